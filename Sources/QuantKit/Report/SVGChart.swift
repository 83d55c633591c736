import Foundation

/// A standalone SVG 1.1 document built element by element, as text.
///
/// Every attribute value and text node is XML-escaped; coordinates are written with at most two
/// decimals. The output starts with an XML declaration and an `<svg>` element with `xmlns`, `version`,
/// `width`, `height` and `viewBox`, whose first child is the `<title>`: browsers open it as an image
/// and screen readers announce the title.
public struct SVGDocument: Sendable {
    public typealias Attributes = [(name: String, value: String)]

    public let width: Double
    public let height: Double
    public var title: String
    /// A longer text alternative (`<desc>`), when given.
    public var description: String?
    private var body: [String] = []
    private var open: [String] = []

    public init(width: Double, height: Double, title: String, description: String? = nil) {
        precondition(width > 0 && height > 0, "SVGDocument: width and height must be positive")
        self.width = width
        self.height = height
        self.title = title
        self.description = description
    }

    /// Adds an element with `attributes` and, when given, escaped text content.
    public mutating func element(_ name: String, _ attributes: Attributes = [], text: String? = nil) {
        let indent = String(repeating: "  ", count: open.count + 1)
        if let text {
            body.append("\(indent)<\(name)\(Self.attributes(attributes))>\(Self.escaped(text))</\(name)>")
        } else {
            body.append("\(indent)<\(name)\(Self.attributes(attributes))/>")
        }
    }

    /// Opens an element whose children are the elements added until the matching ``close()``.
    public mutating func open(_ name: String, _ attributes: Attributes = []) {
        body.append(String(repeating: "  ", count: open.count + 1) + "<\(name)\(Self.attributes(attributes))>")
        open.append(name)
    }

    /// Closes the innermost open element.
    public mutating func close() {
        guard let name = open.popLast() else { preconditionFailure("SVGDocument.close() without an open element") }
        body.append(String(repeating: "  ", count: open.count + 1) + "</\(name)>")
    }

    /// The document's text; elements still open are closed.
    public func rendered() -> String {
        var document = self
        while !document.open.isEmpty { document.close() }
        let w = Self.number(width), h = Self.number(height)
        var lines = [
            #"<?xml version="1.0" encoding="UTF-8" standalone="no"?>"#,
            #"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\#(w)" height="\#(h)" viewBox="0 0 \#(w) \#(h)" "#
                + #"font-family="Helvetica, Arial, sans-serif" font-size="12">"#,
            "  <title>\(Self.escaped(title))</title>",
        ]
        if let description { lines.append("  <desc>\(Self.escaped(description))</desc>") }
        lines += document.body
        lines.append("</svg>")
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` with `&`, `<`, `>`, `"` and `'` as character entities, and the control characters XML 1.0
    /// forbids dropped; fit for text content and attribute values.
    public static func escaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default:
                // XML 1.0 allows no other C0 controls, nor U+FFFE / U+FFFF.
                if scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// A coordinate: at most two decimals, no trailing zeros, no exponent, never `-0`.
    public static func number(_ x: Double) -> String {
        precondition(x.isFinite, "SVGDocument: a coordinate must be finite")
        let rounded = (x * 100).rounded() / 100
        if rounded == 0 { return "0" }
        var text = String(format: "%.2f", rounded)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }

    private static func attributes(_ attributes: Attributes) -> String {
        attributes.map { " \($0.name)=\"\(escaped($0.value))\"" }.joined()
    }
}

/// A linear axis: a data interval with round ends and round tick steps (1, 2 or 5 × 10^k), mapped
/// onto a pixel interval.
public struct AxisScale: Sendable, Equatable {
    /// The data interval the axis shows, ends on multiples of ``step``.
    public var lower: Double
    public var upper: Double
    /// The distance between ticks.
    public var step: Double
    /// The pixels of ``lower`` and ``upper`` (`start > end` for a y axis that grows upwards).
    public var start: Double
    public var end: Double

    /// An axis covering `values`, with round ends and about `targetTicks` ticks.
    ///
    /// - Parameters:
    ///   - includeZero: extend the interval to 0 (for sizes and times, so lengths compare).
    ///   - padding: widen the data's range by this fraction on each side not pinned at zero.
    ///   - minimumSpan: the narrowest interval shown, centred on the data; a single value or equal
    ///     values get this span instead of none.
    ///   - limits: never show beyond these (0...100 for a percentage).
    ///   - integerSteps: ticks on whole numbers only (epochs).
    public init(covering values: [Double], pixels: (start: Double, end: Double), includeZero: Bool = false,
                padding: Double = 0.05, minimumSpan: Double = 1, limits: ClosedRange<Double>? = nil,
                integerSteps: Bool = false, targetTicks: Int = 6) {
        precondition(minimumSpan > 0 && targetTicks >= 1, "AxisScale: minimumSpan > 0, targetTicks >= 1")
        let finite = values.filter(\.isFinite)
        var lo = finite.min() ?? 0, hi = finite.max() ?? 0
        if includeZero { lo = Swift.min(lo, 0); hi = Swift.max(hi, 0) }
        let pad = (hi - lo) * padding
        if !(includeZero && lo == 0) { lo -= pad }
        if !(includeZero && hi == 0) { hi += pad }
        if hi - lo < minimumSpan {
            let centre = (lo + hi) / 2
            lo = centre - minimumSpan / 2
            hi = centre + minimumSpan / 2
            if includeZero && (finite.min() ?? 0) >= 0 {
                (lo, hi) = (0, minimumSpan)
            } else if includeZero && (finite.max() ?? 0) <= 0 {
                (lo, hi) = (-minimumSpan, 0)
            }
        }
        if let limits {
            let span = hi - lo
            if lo < limits.lowerBound { (lo, hi) = (limits.lowerBound, Swift.min(limits.upperBound, limits.lowerBound + span)) }
            if hi > limits.upperBound { (lo, hi) = (Swift.max(limits.lowerBound, limits.upperBound - span), limits.upperBound) }
        }
        var step = Self.niceStep((hi - lo) / Double(targetTicks))
        if integerSteps { step = Swift.max(step, 1) }
        lower = (lo / step).rounded(.down) * step
        upper = (hi / step).rounded(.up) * step
        if let limits {
            lower = Swift.max(lower, limits.lowerBound)
            upper = Swift.min(upper, limits.upperBound)
        }
        if upper <= lower { upper = lower + step }
        self.step = step
        (start, end) = pixels
    }

    /// The smallest of 1, 2, 5 or 10 × 10^k at least `raw` (1 for a non-positive or non-finite `raw`).
    public static func niceStep(_ raw: Double) -> Double {
        guard raw > 0 && raw.isFinite else { return 1 }
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let fraction = raw / magnitude
        let nice: Double = fraction <= 1 + 1e-9 ? 1 : fraction <= 2 + 1e-9 ? 2 : fraction <= 5 + 1e-9 ? 5 : 10
        return nice * magnitude
    }

    /// The pixel coordinate of `value`.
    public func position(_ value: Double) -> Double {
        start + (value - lower) / (upper - lower) * (end - start)
    }

    /// The tick values from ``lower`` to ``upper``, free of floating-point residue (0.30000000000000004).
    public var ticks: [Double] {
        let count = Int(((upper - lower) / step).rounded())
        let scale = pow(10, Double(decimals))
        return (0...count).map { ((lower + Double($0) * step) * scale).rounded() / scale }
    }

    /// Decimals a tick label needs: 0 for a step of 1 or more, 1 for 0.5 or 0.2, ...
    public var decimals: Int { Swift.max(0, -Int((log10(step) + 1e-9).rounded(.down))) }

    /// A tick's label, with just the decimals the step needs.
    public func label(_ tick: Double) -> String {
        let text = String(format: "%.\(decimals)f", tick)
        return text.hasPrefix("-") && Double(text) == 0 ? String(text.dropFirst()) : text
    }
}

/// The pieces the report's charts share: the plot area, axes with ticks, grid and titles, and a palette.
struct ChartFrame {
    /// The plot area in pixels.
    var left: Double, top: Double, right: Double, bottom: Double

    /// The colours of the variants, in table order (Tableau 10: distinct, and readable on white).
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    static func colour(_ index: Int) -> String { palette[index % palette.count] }

    /// An estimate of a text's width in pixels at `size` (sans-serif averages about 0.6 em a character).
    static func textWidth(_ text: String, size: Double = 12) -> Double { Double(text.count) * size * 0.6 }

    /// A white background and the chart's visible title (and subtitle) above the plot.
    static func header(_ svg: inout SVGDocument, title: String, subtitle: String?) {
        svg.element("rect", [("x", "0"), ("y", "0"), ("width", SVGDocument.number(svg.width)),
                             ("height", SVGDocument.number(svg.height)), ("fill", "#ffffff")])
        svg.element("text", [("class", "chart-title"), ("x", SVGDocument.number(svg.width / 2)), ("y", "22"),
                             ("text-anchor", "middle"), ("font-size", "15"), ("font-weight", "bold"), ("fill", "#222222")],
                    text: title)
        if let subtitle {
            svg.element("text", [("class", "chart-subtitle"), ("x", SVGDocument.number(svg.width / 2)), ("y", "40"),
                                 ("text-anchor", "middle"), ("font-size", "11"), ("fill", "#555555")], text: subtitle)
        }
    }

    /// A note in the middle of an empty plot.
    func noData(_ svg: inout SVGDocument, _ note: String) {
        svg.element("text", [("class", "no-data"), ("x", SVGDocument.number((left + right) / 2)),
                             ("y", SVGDocument.number((top + bottom) / 2 + 4)), ("text-anchor", "middle"), ("fill", "#666666")],
                    text: note)
    }

    /// Grid lines at the ticks of `x` and `y` (either may be nil), behind the data.
    func grid(_ svg: inout SVGDocument, x: AxisScale?, y: AxisScale?) {
        svg.open("g", [("class", "grid"), ("stroke", "#e6e6e6"), ("stroke-width", "1")])
        for tick in x?.ticks ?? [] {
            let px = SVGDocument.number(x!.position(tick))
            svg.element("line", [("x1", px), ("y1", SVGDocument.number(top)), ("x2", px), ("y2", SVGDocument.number(bottom))])
        }
        for tick in y?.ticks ?? [] {
            let py = SVGDocument.number(y!.position(tick))
            svg.element("line", [("x1", SVGDocument.number(left)), ("y1", py), ("x2", SVGDocument.number(right)), ("y2", py)])
        }
        svg.close()
    }

    /// The x axis along the bottom: the axis line, one `<g class="x-tick">` per tick (a tick mark whose
    /// `x1` is the tick's pixel, and its label), and the axis title.
    func xAxis(_ svg: inout SVGDocument, _ scale: AxisScale, title: String) {
        let b = SVGDocument.number(bottom)
        svg.open("g", [("class", "x-axis")])
        svg.element("line", [("class", "axis-line"), ("x1", SVGDocument.number(left)), ("y1", b),
                             ("x2", SVGDocument.number(right)), ("y2", b), ("stroke", "#333333")])
        for tick in scale.ticks {
            let px = SVGDocument.number(scale.position(tick))
            svg.open("g", [("class", "x-tick")])
            svg.element("line", [("x1", px), ("y1", b), ("x2", px), ("y2", SVGDocument.number(bottom + 5)), ("stroke", "#333333")])
            svg.element("text", [("x", px), ("y", SVGDocument.number(bottom + 18)), ("text-anchor", "middle"), ("fill", "#333333")],
                        text: scale.label(tick))
            svg.close()
        }
        svg.element("text", [("class", "axis-title"), ("x", SVGDocument.number((left + right) / 2)),
                             ("y", SVGDocument.number(bottom + 38)), ("text-anchor", "middle"), ("fill", "#222222")], text: title)
        svg.close()
    }

    /// The y axis along the left: the axis line, one `<g class="y-tick">` per tick (a tick mark whose
    /// `y1` is the tick's pixel, and its label), and the axis title, rotated.
    func yAxis(_ svg: inout SVGDocument, _ scale: AxisScale, title: String) {
        let l = SVGDocument.number(left)
        svg.open("g", [("class", "y-axis")])
        svg.element("line", [("class", "axis-line"), ("x1", l), ("y1", SVGDocument.number(top)),
                             ("x2", l), ("y2", SVGDocument.number(bottom)), ("stroke", "#333333")])
        var widest = 0.0
        for tick in scale.ticks {
            let py = scale.position(tick)
            let label = scale.label(tick)
            widest = max(widest, Self.textWidth(label))
            svg.open("g", [("class", "y-tick")])
            svg.element("line", [("x1", SVGDocument.number(left - 5)), ("y1", SVGDocument.number(py)), ("x2", l),
                                 ("y2", SVGDocument.number(py)), ("stroke", "#333333")])
            svg.element("text", [("x", SVGDocument.number(left - 8)), ("y", SVGDocument.number(py + 4)), ("text-anchor", "end"),
                                 ("fill", "#333333")], text: label)
            svg.close()
        }
        let x = left - 8 - widest - 12, y = (top + bottom) / 2
        svg.element("text", [("class", "axis-title"), ("x", SVGDocument.number(x)), ("y", SVGDocument.number(y)),
                             ("text-anchor", "middle"), ("fill", "#222222"),
                             ("transform", "rotate(-90 \(SVGDocument.number(x)) \(SVGDocument.number(y)))")], text: title)
        svg.close()
    }
}
