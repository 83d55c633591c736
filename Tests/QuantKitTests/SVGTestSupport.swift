import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// An XML element read back by `XMLParser`: enough of a DOM to check what a chart shows.
final class XMLElementNode {
    let name: String
    let attributes: [String: String]
    var children: [XMLElementNode] = []
    var text = ""

    init(name: String, attributes: [String: String]) {
        self.name = name
        self.attributes = attributes
    }

    /// `attributes[key]` as a number.
    func number(_ key: String) throws -> Double {
        let raw = try #require(attributes[key], "<\(name)> has no \(key)")
        return try #require(Double(raw), "<\(name)> \(key)=\"\(raw)\" is not a number")
    }

    var classes: [String] { (attributes["class"] ?? "").split(separator: " ").map(String.init) }

    /// Every element below this one (depth first), this one excluded.
    var descendants: [XMLElementNode] { children.flatMap { [$0] + $0.descendants } }

    /// Descendant `<g>` elements with `className` among their classes.
    func groups(_ className: String) -> [XMLElementNode] {
        descendants.filter { $0.name == "g" && $0.classes.contains(className) }
    }

    /// The first child named `name`.
    func child(_ name: String) throws -> XMLElementNode {
        try #require(children.first { $0.name == name }, "<\(self.name) class=\(attributes["class"] ?? "")> has no <\(name)>")
    }

    /// The text of this element and its descendants.
    var allText: String { text + children.map(\.allText).joined() }
}

/// Parses `text` with Foundation's `XMLParser`; fails the test unless it is well-formed.
func parseXML(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> XMLElementNode {
    final class Builder: NSObject, XMLParserDelegate {
        var stack: [XMLElementNode] = []
        var root: XMLElementNode?
        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
            let node = XMLElementNode(name: elementName, attributes: attributeDict)
            stack.last?.children.append(node)
            if root == nil { root = node }
            stack.append(node)
        }
        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
            stack.removeLast()
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) {
            stack.last?.text += string
        }
    }
    let parser = XMLParser(data: Data(text.utf8))
    let builder = Builder()
    parser.delegate = builder
    let ok = parser.parse()
    #expect(ok, "not well-formed XML: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)",
            sourceLocation: sourceLocation)
    return try #require(builder.root, "no root element", sourceLocation: sourceLocation)
}

/// A chart axis as the SVG draws it: the value and pixel of every tick, read from `g.x-tick` /
/// `g.y-tick` groups (tick mark's `x1` / `y1`, label text). Maps pixels back to values by the line
/// through the first and last tick, after checking every tick lies on that line.
struct ReadAxis {
    var ticks: [(value: Double, pixel: Double)]

    init(_ svg: XMLElementNode, _ axis: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let groups = svg.groups("\(axis)-tick")
        ticks = try groups.map { group in
            let line = try group.child("line")
            let label = try group.child("text").text
            let value = try #require(Double(label), "tick label \"\(label)\" is not a number", sourceLocation: sourceLocation)
            return (value, try line.number(axis == "x" ? "x1" : "y1"))
        }
        try #require(ticks.count >= 2, "the \(axis) axis has \(ticks.count) tick(s)", sourceLocation: sourceLocation)
        // Ticks in order, evenly spaced by a round step (1, 2 or 5 × 10^k), on one straight line.
        let step = ticks[1].value - ticks[0].value
        #expect(step > 0, sourceLocation: sourceLocation)
        let mantissa = step / pow(10, log10(step).rounded(.down))
        #expect([1.0, 2, 5, 10].contains { abs(mantissa - $0) < 1e-6 }, "step \(step) is not 1, 2 or 5 × 10^k",
                sourceLocation: sourceLocation)
        for (a, b) in zip(ticks, ticks.dropFirst()) {
            #expect(abs((b.value - a.value) - step) < step * 1e-6, "uneven ticks \(a.value), \(b.value)", sourceLocation: sourceLocation)
        }
        for tick in ticks {
            #expect(abs(pixel(tick.value) - tick.pixel) < 0.02, "tick \(tick.value) off the axis line", sourceLocation: sourceLocation)
        }
    }

    var lower: Double { ticks.first!.value }
    var upper: Double { ticks.last!.value }

    func value(_ pixel: Double) -> Double {
        let (a, b) = (ticks.first!, ticks.last!)
        return a.value + (pixel - a.pixel) / (b.pixel - a.pixel) * (b.value - a.value)
    }

    func pixel(_ value: Double) -> Double {
        let (a, b) = (ticks.first!, ticks.last!)
        return a.pixel + (value - a.value) / (b.value - a.value) * (b.pixel - a.pixel)
    }

    /// Data units per pixel.
    var unitsPerPixel: Double { abs((ticks.last!.value - ticks.first!.value) / (ticks.last!.pixel - ticks.first!.pixel)) }
}
