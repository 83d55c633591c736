import Foundation
import NeuralNet
import TensorCore

/// The report's three charts, as standalone SVG 1.1 documents.
///
/// Each data mark sits in a `<g>` with a class naming what it shows and a `<title>` (the browser's
/// tooltip) giving its figures, so a reader, a screen reader and a test can all tell what it shows:
/// `g.point` (scatter), `g.bar` (latency), `g.series` (training curves). Axis ticks are `g.x-tick` /
/// `g.y-tick`, each a tick mark at the tick's pixel and the tick's value as text.
extension PipelineReport {
    /// The files ``write(to:)`` writes, by name inside the output directory.
    public static let markdownFile = "report.md"
    public static let jsonFile = "report.json"
    public static let accuracyVsSizeChartFile = "accuracy_vs_size.svg"
    public static let latencyChartFile = "latency.svg"
    public static let trainingChartFile = "training_curves.svg"

    /// Scatter of test accuracy (%) against file size (MB, from zero), one labelled point per variant,
    /// with the baseline's accuracy as a dashed line.
    public func accuracyVsSizeSVG() -> String {
        let width = 720.0, height = 440.0
        let frame = ChartFrame(left: 80, top: 56, right: width - 30, bottom: height - 60)
        let sizes = variants.map { Double($0.fileBytes) / 1e6 }
        let accuracies = variants.map { $0.accuracy * 100 }
        let x = AxisScale(covering: sizes, pixels: (frame.left, frame.right), includeZero: true, padding: 0.08,
                          minimumSpan: Self.minimumSpan(sizes))
        let y = AxisScale(covering: accuracies, pixels: (frame.bottom, frame.top), padding: 0.15, minimumSpan: 1,
                          limits: 0...100)
        let summary = variants.map { "\($0.name): \(ReportFormat.bytes($0.fileBytes)), \(ReportFormat.percent($0.accuracy))" }
        var svg = SVGDocument(width: width, height: height, title: "Test accuracy against model file size",
                              description: summary.isEmpty ? "No variants." : summary.joined(separator: "; "))
        ChartFrame.header(&svg, title: "Test accuracy against model file size",
                          subtitle: "\(dataset); up and to the left is better")
        frame.grid(&svg, x: x, y: y)
        frame.xAxis(&svg, x, title: "model file size (MB)")
        frame.yAxis(&svg, y, title: "test accuracy (%)")
        if variants.isEmpty { frame.noData(&svg, "no variants") }

        if let baseline {
            let py = y.position(baseline.accuracy * 100)
            svg.open("g", [("class", "baseline")])
            svg.element("title", text: "\(baseline.name) accuracy: \(ReportFormat.percent(baseline.accuracy))")
            svg.element("line", [("x1", SVGDocument.number(frame.left)), ("y1", SVGDocument.number(py)),
                                 ("x2", SVGDocument.number(frame.right)), ("y2", SVGDocument.number(py)),
                                 ("stroke", "#888888"), ("stroke-dasharray", "5 4")])
            svg.element("text", [("x", SVGDocument.number(frame.left + 4)), ("y", SVGDocument.number(py - 5)),
                                 ("font-size", "10"), ("fill", "#666666")],
                        text: "\(baseline.name) accuracy")
            svg.close()
        }

        // Labels right of their points (left near the right edge), nudged apart vertically where they would overlap.
        struct Label { var x: Double, y: Double, width: Double, anchorEnd: Bool, pointX: Double, pointY: Double }
        var labels: [Label] = variants.indices.map { i in
            let px = x.position(sizes[i]), py = y.position(accuracies[i])
            let w = ChartFrame.textWidth(variants[i].name)
            let anchorEnd = px + 9 + w > width - 4
            return Label(x: anchorEnd ? px - 9 : px + 9, y: py + 4, width: w, anchorEnd: anchorEnd, pointX: px, pointY: py)
        }
        func span(_ l: Label) -> ClosedRange<Double> { l.anchorEnd ? (l.x - l.width)...l.x : l.x...(l.x + l.width) }
        let order = labels.indices.sorted { (labels[$0].y, $0) < (labels[$1].y, $1) }
        for (k, i) in order.enumerated() {
            for j in order[..<k] where span(labels[i]).overlaps(span(labels[j])) && labels[i].y - labels[j].y < 14 {
                labels[i].y = labels[j].y + 14
            }
        }
        // Then back up from the bottom, so that a pushed-down stack stays above the x axis.
        for (k, i) in order.enumerated().reversed() {
            var limit = frame.bottom - 4
            for j in order[(k + 1)...] where span(labels[i]).overlaps(span(labels[j])) { limit = Swift.min(limit, labels[j].y - 14) }
            labels[i].y = Swift.max(Swift.min(labels[i].y, limit), frame.top + 10)
        }

        for (i, variant) in variants.enumerated() {
            let label = labels[i]
            svg.open("g", [("class", "point")])
            svg.element("title", text: "\(variant.name): \(ReportFormat.bytesInFull(variant.fileBytes)), "
                        + "\(ReportFormat.percent(variant.accuracy)) test accuracy")
            if abs(label.y - 4 - label.pointY) > 6 {
                svg.element("line", [("class", "leader"), ("x1", SVGDocument.number(label.pointX)),
                                     ("y1", SVGDocument.number(label.pointY)),
                                     ("x2", SVGDocument.number(label.x + (label.anchorEnd ? 2 : -2))),
                                     ("y2", SVGDocument.number(label.y - 4)), ("stroke", "#aaaaaa")])
            }
            svg.element("circle", [("cx", SVGDocument.number(label.pointX)), ("cy", SVGDocument.number(label.pointY)),
                                   ("r", "5.5"), ("fill", ChartFrame.colour(i)), ("stroke", "#ffffff"), ("stroke-width", "1.5")])
            svg.element("text", [("class", "point-label"), ("x", SVGDocument.number(label.x)), ("y", SVGDocument.number(label.y)),
                                 ("text-anchor", label.anchorEnd ? "end" : "start"), ("fill", "#222222")], text: variant.name)
            svg.close()
        }
        return svg.rendered()
    }

    /// The narrowest axis for positive quantities drawn from zero: a fifth of the largest, so that
    /// equal values fill most of the plot (1 without a positive value).
    static func minimumSpan(_ values: [Double]) -> Double {
        let largest = values.filter(\.isFinite).max() ?? 0
        return largest > 0 ? largest * 0.2 : 1
    }

    /// Horizontal bars of the median latency per inference (ms, from zero), one per variant in table
    /// order, with min–max whiskers and the median written at the end.
    public func latencySVG() -> String {
        let width = 720.0, band = 34.0
        let longest = variants.map { ChartFrame.textWidth($0.name) }.max() ?? 0
        let left = Swift.max(90, longest + 20)
        let top = 76.0
        let frame = ChartFrame(left: left, top: top, right: width - 90, bottom: top + band * Double(Swift.max(variants.count, 1)))
        let height = frame.bottom + 60
        let x = AxisScale(covering: variants.flatMap { [$0.latencyMs.median, $0.latencyMs.max] },
                          pixels: (frame.left, frame.right), includeZero: true, padding: 0.05,
                          minimumSpan: Self.minimumSpan(variants.map(\.latencyMs.max)))
        let settings = Set(variants.map { "batch \($0.batch), \($0.threads) thread\($0.threads == 1 ? "" : "s"), \($0.kernels) kernels" })
        let summary = variants.map {
            "\($0.name): median \(ReportFormat.significant($0.latencyMs.median)) ms "
                + "(min \(ReportFormat.significant($0.latencyMs.min)), max \(ReportFormat.significant($0.latencyMs.max)))"
        }
        var svg = SVGDocument(width: width, height: height, title: "Latency per inference by variant",
                              description: summary.isEmpty ? "No variants." : summary.joined(separator: "; "))
        ChartFrame.header(&svg, title: "Latency per inference by variant",
                          subtitle: settings.count == 1 ? settings.first! + "; shorter is faster" : "shorter is faster")

        // Legend: what a bar and a whisker mean.
        svg.open("g", [("class", "legend"), ("font-size", "11"), ("fill", "#333333")])
        let legendY = 58.0
        svg.element("rect", [("x", SVGDocument.number(frame.left)), ("y", SVGDocument.number(legendY - 9)), ("width", "18"),
                             ("height", "10"), ("fill", "#999999")])
        svg.element("text", [("x", SVGDocument.number(frame.left + 24)), ("y", SVGDocument.number(legendY))], text: "median")
        let wx = frame.left + 90
        svg.element("line", [("x1", SVGDocument.number(wx)), ("y1", SVGDocument.number(legendY - 4)),
                             ("x2", SVGDocument.number(wx + 18)), ("y2", SVGDocument.number(legendY - 4)), ("stroke", "#333333")])
        for cap in [wx, wx + 18] {
            svg.element("line", [("x1", SVGDocument.number(cap)), ("y1", SVGDocument.number(legendY - 8)),
                                 ("x2", SVGDocument.number(cap)), ("y2", SVGDocument.number(legendY)), ("stroke", "#333333")])
        }
        svg.element("text", [("x", SVGDocument.number(wx + 24)), ("y", SVGDocument.number(legendY))], text: "min–max of the timed runs")
        svg.close()

        frame.grid(&svg, x: x, y: nil)
        frame.xAxis(&svg, x, title: "median latency per inference (ms)")
        if variants.isEmpty { frame.noData(&svg, "no variants") }
        svg.element("line", [("class", "axis-line"), ("x1", SVGDocument.number(frame.left)), ("y1", SVGDocument.number(frame.top)),
                             ("x2", SVGDocument.number(frame.left)), ("y2", SVGDocument.number(frame.bottom)), ("stroke", "#333333")])

        for (i, variant) in variants.enumerated() {
            let latency = variant.latencyMs
            let centre = frame.top + band * (Double(i) + 0.5)
            let x0 = x.position(0), x1 = x.position(latency.median)
            svg.open("g", [("class", "bar")])
            svg.element("title", text: "\(variant.name): median \(ReportFormat.significant(latency.median)) ms, "
                        + "min \(ReportFormat.significant(latency.min)) ms, max \(ReportFormat.significant(latency.max)) ms"
                        + (latency.runs.map { ", \($0) runs" } ?? ""))
            svg.element("text", [("class", "category"), ("x", SVGDocument.number(frame.left - 8)),
                                 ("y", SVGDocument.number(centre + 4)), ("text-anchor", "end"), ("fill", "#222222")],
                        text: variant.name)
            svg.element("rect", [("x", SVGDocument.number(x0)), ("y", SVGDocument.number(centre - 10)),
                                 ("width", SVGDocument.number(x1 - x0)), ("height", "20"), ("fill", ChartFrame.colour(i))])
            let lo = x.position(latency.min), hi = x.position(latency.max)
            svg.open("g", [("class", "whisker"), ("stroke", "#333333"), ("stroke-width", "1.2")])
            svg.element("line", [("x1", SVGDocument.number(lo)), ("y1", SVGDocument.number(centre)),
                                 ("x2", SVGDocument.number(hi)), ("y2", SVGDocument.number(centre))])
            for cap in [lo, hi] {
                svg.element("line", [("x1", SVGDocument.number(cap)), ("y1", SVGDocument.number(centre - 5)),
                                     ("x2", SVGDocument.number(cap)), ("y2", SVGDocument.number(centre + 5))])
            }
            svg.close()
            svg.element("text", [("class", "value"), ("x", SVGDocument.number(Swift.max(x1, hi) + 6)),
                                 ("y", SVGDocument.number(centre + 4)), ("fill", "#222222")],
                        text: "\(ReportFormat.significant(latency.median)) ms")
            svg.close()
        }
        return svg.rendered()
    }

    /// One curve of the training chart: its name, colour, dash and points (epoch on the shared axis, accuracy %).
    struct TrainingSeries {
        var name: String
        var colour: String
        var dashed: Bool
        var points: [(x: Double, y: Double)]
    }

    /// The training chart's curves: accuracy and val_accuracy of the float run (epochs 1...F), then of
    /// the QAT run (epochs F+1...F+Q, continuing the axis). A curve without points is left out; an
    /// epoch without validation has no val_accuracy vertex.
    func trainingSeries() -> [TrainingSeries] {
        let runs: [(String, [EpochRecord], Int, String)] = [
            ("float", floatTraining, 0, ChartFrame.palette[0]),
            ("QAT", qatTraining, floatTraining.count, ChartFrame.palette[1]),
        ]
        var series: [TrainingSeries] = []
        for (name, records, offset, colour) in runs {
            let train = records.enumerated().map { (x: Double(offset + $0.offset + 1), y: $0.element.accuracy * 100) }
            let val = records.enumerated().compactMap { i, r in r.valAccuracy.map { (x: Double(offset + i + 1), y: $0 * 100) } }
            if !train.isEmpty { series.append(TrainingSeries(name: "\(name): accuracy (train)", colour: colour, dashed: false, points: train)) }
            if !val.isEmpty { series.append(TrainingSeries(name: "\(name): val_accuracy", colour: colour, dashed: true, points: val)) }
        }
        return series
    }

    /// Accuracy and val_accuracy per epoch, float training then QAT fine-tuning on one epoch axis, with
    /// a legend; each curve is a `g.series` holding one polyline vertex and one marker per epoch.
    public func trainingCurvesSVG() -> String {
        let width = 780.0, height = 440.0
        let frame = ChartFrame(left: 80, top: 56, right: width - 200, bottom: height - 60)
        let series = trainingSeries()
        let epochs = floatTraining.count + qatTraining.count
        // Epochs are inset from the plot's ends, so that the first and last markers clear the frame.
        let x = AxisScale(covering: [1, Double(Swift.max(epochs, 1))], pixels: (frame.left + 20, frame.right - 20), padding: 0,
                          minimumSpan: 1, limits: 0...Double.infinity, integerSteps: true)
        let y = AxisScale(covering: series.flatMap { $0.points.map(\.y) }, pixels: (frame.bottom, frame.top), padding: 0.1,
                          minimumSpan: 1, limits: 0...100)
        var svg = SVGDocument(width: width, height: height, title: "Training curves: accuracy per epoch",
                              description: series.isEmpty ? "No training in this run."
                                : series.map { s in "\(s.name): " + s.points.map { ReportFormat.significant($0.y) + "%" }.joined(separator: ", ") }
                                    .joined(separator: "; "))
        ChartFrame.header(&svg, title: "Training curves: accuracy per epoch",
                          subtitle: qatTraining.isEmpty ? dataset : "\(dataset); QAT epochs follow the float epochs")
        frame.grid(&svg, x: x, y: y)
        frame.xAxis(&svg, x, title: qatTraining.isEmpty || floatTraining.isEmpty ? "epoch" : "epoch (float training, then QAT)")
        frame.yAxis(&svg, y, title: "accuracy (%)")

        if series.isEmpty { frame.noData(&svg, "no training in this run") }
        if !floatTraining.isEmpty && !qatTraining.isEmpty {
            let px = x.position(Double(floatTraining.count) + 0.5)
            svg.open("g", [("class", "phase")])
            svg.element("line", [("x1", SVGDocument.number(px)), ("y1", SVGDocument.number(frame.top)), ("x2", SVGDocument.number(px)),
                                 ("y2", SVGDocument.number(frame.bottom)), ("stroke", "#999999"), ("stroke-dasharray", "2 3")])
            svg.element("text", [("x", SVGDocument.number(px + 4)), ("y", SVGDocument.number(frame.top + 12)), ("font-size", "10"),
                                 ("fill", "#666666")], text: "QAT →")
            svg.close()
        }

        for s in series {
            let points = s.points.map { "\(SVGDocument.number(x.position($0.x))),\(SVGDocument.number(y.position($0.y)))" }
            svg.open("g", [("class", "series")])
            svg.element("title", text: s.name)
            var line: SVGDocument.Attributes = [("points", points.joined(separator: " ")), ("fill", "none"), ("stroke", s.colour),
                                                ("stroke-width", "2")]
            if s.dashed { line.append(("stroke-dasharray", "6 4")) }
            svg.element("polyline", line)
            for point in s.points {
                svg.element("circle", [("cx", SVGDocument.number(x.position(point.x))), ("cy", SVGDocument.number(y.position(point.y))),
                                       ("r", "3"), ("fill", s.dashed ? "#ffffff" : s.colour), ("stroke", s.colour),
                                       ("stroke-width", "1.5")])
            }
            svg.close()
        }

        // The legend, right of the plot.
        svg.open("g", [("class", "legend"), ("font-size", "11"), ("fill", "#222222")])
        for (i, s) in series.enumerated() {
            let ly = frame.top + 8 + Double(i) * 20, lx = frame.right + 16
            svg.open("g", [("class", "legend-entry")])
            var line: SVGDocument.Attributes = [("x1", SVGDocument.number(lx)), ("y1", SVGDocument.number(ly)),
                                                ("x2", SVGDocument.number(lx + 26)), ("y2", SVGDocument.number(ly)),
                                                ("stroke", s.colour), ("stroke-width", "2")]
            if s.dashed { line.append(("stroke-dasharray", "6 4")) }
            svg.element("line", line)
            svg.element("text", [("x", SVGDocument.number(lx + 32)), ("y", SVGDocument.number(ly + 4))], text: s.name)
            svg.close()
        }
        svg.close()
        return svg.rendered()
    }

    /// Writes `report.md`, `report.json` and the three charts into `directory` (created if needed),
    /// each atomically (a temporary file in the directory, renamed over the old one), charts first,
    /// so `report.md` never links to a chart not yet written. Returns the files written.
    @discardableResult
    public func write(to directory: URL) throws -> [URL] {
        let files: [(String, String)] = [
            (Self.accuracyVsSizeChartFile, accuracyVsSizeSVG()),
            (Self.latencyChartFile, latencySVG()),
            (Self.trainingChartFile, trainingCurvesSVG()),
            (Self.jsonFile, try json() + "\n"),
            (Self.markdownFile, markdown()),
        ]
        return try files.map { name, text in
            let url = directory.appendingPathComponent(name)
            try AtomicFile.write(text, to: url)
            return url
        }
    }
}
