import Foundation
import QuantKit
import Testing

/// `PipelineReport`: the figures in report.md, the terminal table and report.json, and the three SVG
/// charts read back with `XMLParser` and checked against the same figures.
@Suite("PipelineReport")
struct PipelineReportTests {
    // MARK: Fixtures

    static let machine = MachineDescription(cpu: "Test CPU @ 2.90GHz", logicalCores: 2, simdBackend: "avx2")

    static func variant(_ name: String, _ file: String, bytes: Int, accuracy: Double, median: Double,
                        min: Double? = nil, max: Double? = nil) -> VariantResult {
        VariantResult(name: name, file: file, fileBytes: bytes, accuracy: accuracy, loss: 0.25,
                      latencyMs: LatencySummary(median: median, min: min ?? median * 0.9, max: max ?? median * 1.3, runs: 200),
                      throughputPerSecond: 1000 / median)
    }

    static func epochs(_ accuracies: [Double], val: [Double?], seconds: [Double]) -> [EpochRecord] {
        accuracies.indices.map { i in
            EpochRecord(epoch: i + 1, loss: 1 - accuracies[i], accuracy: accuracies[i], valLoss: val[i].map { 1 - $0 },
                        valAccuracy: val[i], seconds: seconds[i], samplesPerSecond: 60_000 / seconds[i], learningRate: 0.001)
        }
    }

    /// Five variants with known figures; float32 is the baseline.
    static let variants = [
        variant("float32", "model_float32.tflite", bytes: 4_000_000, accuracy: 0.9144, median: 2.0),
        variant("dynamic range", "model_dynamic.tflite", bytes: 1_012_000, accuracy: 0.9141, median: 1.6),
        variant("int8 (PTQ)", "model_int8.tflite", bytes: 1_020_000, accuracy: 0.9130, median: 0.8),
        variant("float16", "model_float16.tflite", bytes: 2_008_000, accuracy: 0.9144, median: 2.5),
        variant("int8 (QAT)", "model_qat_int8.tflite", bytes: 1_020_500, accuracy: 0.9197, median: 0.8, min: 0.7, max: 1.4),
    ]

    static let floatEpochs = epochs([0.82, 0.88, 0.90, 0.91, 0.92], val: [0.86, 0.88, 0.895, 0.905, 0.9144],
                                    seconds: [40, 42, 41, 45, 43])
    static let qatEpochs = epochs([0.925], val: [0.9197], seconds: [47])

    static func report(variants: [VariantResult] = variants, float: [EpochRecord] = floatEpochs,
                       qat: [EpochRecord] = qatEpochs, dataset: String = "FashionMNIST (60,000 train / 10,000 test)") -> PipelineReport {
        PipelineReport(created: "2025-06-01T12:00:00Z", machine: machine, dataset: dataset,
                       floatTraining: float, qatTraining: qat, variants: variants)
    }

    /// The reports every chart must draw well: the full one and the edge cases.
    static let edgeCases: [(String, PipelineReport)] = [
        ("full", report()),
        ("single variant", report(variants: [variants[0]], float: [floatEpochs[0]], qat: [])),
        ("equal values", report(variants: (0..<3).map { variant("v\($0)", "v\($0).tflite", bytes: 500_000, accuracy: 0.9, median: 1, min: 1, max: 1) })),
        ("no validation", report(float: epochs([0.8, 0.85], val: [nil, nil], seconds: [10, 11]),
                                 qat: epochs([0.86], val: [nil], seconds: [12]))),
        ("names to escape", report(variants: [variant("a<b&c", "a\"b'.tflite", bytes: 1_500_000, accuracy: 0.5, median: 3),
                                              variant("float32", "f.tflite", bytes: 3_000_000, accuracy: 0.6, median: 4)],
                                   dataset: "x & y <z> \"q\"")),
        ("no baseline", report(variants: Array(variants.dropFirst()))),
        ("nothing", report(variants: [], float: [], qat: [])),
        ("perfect accuracy", report(variants: [variant("float32", "f.tflite", bytes: 10, accuracy: 1, median: 0.01),
                                               variant("int8", "i.tflite", bytes: 3, accuracy: 1, median: 0.004)],
                                    float: epochs([1, 1], val: [1, 1], seconds: [1, 1]))),
    ]

    // MARK: Tables

    @Test func markdownTableRowsAndDerivedValues() throws {
        let markdown = Self.report().markdown()
        let lines = markdown.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = "| variant | file | size | size vs float | test accuracy | change vs float | latency (median, ms) | speed-up vs float |"
        let start = try #require(lines.firstIndex(of: header), "\(markdown)")
        #expect(lines[start + 1] == "|---|---|---:|---:|---:|---:|---:|---:|")
        let expected = [
            "| float32 | `model_float32.tflite` | 4,000,000 B (4.00 MB) | 100% | 91.44% | ±0.00 points | 2.00 | 1.00x |",
            "| dynamic range | `model_dynamic.tflite` | 1,012,000 B (1.01 MB) | 25.3% | 91.41% | \u{2212}0.03 points | 1.60 | 1.25x |",
            "| int8 (PTQ) | `model_int8.tflite` | 1,020,000 B (1.02 MB) | 25.5% | 91.30% | \u{2212}0.14 points | 0.800 | 2.50x |",
            "| float16 | `model_float16.tflite` | 2,008,000 B (2.01 MB) | 50.2% | 91.44% | ±0.00 points | 2.50 | 0.80x |",
            "| int8 (QAT) | `model_qat_int8.tflite` | 1,020,500 B (1.02 MB) | 25.5% | 91.97% | +0.53 points | 0.800 | 2.50x |",
        ]
        #expect(Array(lines[(start + 2)..<(start + 7)]) == expected)
        #expect(lines[start + 7] == "", "the table ends after the five variants")

        #expect(markdown.hasPrefix("# QuantKit pipeline report\n"))
        #expect(lines.contains("- **Created:** 2025-06-01T12:00:00Z"))
        #expect(lines.contains("- **Machine:** Test CPU @ 2.90GHz, 2 logical cores, SIMD backend `avx2`"))
        #expect(lines.contains("- **Dataset:** FashionMNIST (60,000 train / 10,000 test)"))
        #expect(lines.contains("- **Latency:** per inference, batch 1, 1 thread, fast kernels; median of 200 timed runs (min and max in report.json)"))
        // Training summaries: epochs, final accuracies, median epoch time.
        #expect(lines.contains("| float | 5 | 92.00% | 91.44% | 42.0 s |"))
        #expect(lines.contains("| QAT | 1 | 92.50% | 91.97% | 47.0 s |"))
        // The charts, by relative name.
        for file in [PipelineReport.accuracyVsSizeChartFile, PipelineReport.latencyChartFile, PipelineReport.trainingChartFile] {
            #expect(markdown.contains("](\(file))"), "report.md embeds \(file)")
        }
    }

    @Test func derivedValues() throws {
        let report = Self.report()
        #expect(report.baseline?.name == "float32")
        let int8 = try #require(report.comparison(for: report.variants[2]))
        #expect(abs(int8.sizeFraction! - 0.255) < 1e-12)
        #expect(abs(int8.accuracyChangePoints - -0.14) < 1e-9)
        #expect(abs(int8.speedup! - 2.5) < 1e-12)
        // A baseline flag wins over the name.
        var flagged = Self.variants
        flagged[0].isBaseline = false
        flagged[3].isBaseline = true
        let other = Self.report(variants: flagged)
        #expect(other.baseline?.name == "float16")
        #expect(abs(other.comparison(for: other.variants[2])!.speedup! - 2.5 / 0.8) < 1e-12)
        // Without a baseline there is nothing to compare with.
        let none = Self.report(variants: Array(Self.variants.dropFirst()))
        #expect(none.baseline == nil && none.comparison(for: none.variants[0]) == nil)
    }

    @Test func noBaselineShowsDashes() throws {
        let report = Self.report(variants: Array(Self.variants.dropFirst()))
        let markdown = report.markdown()
        #expect(markdown.contains("| int8 (PTQ) | `model_int8.tflite` | 1,020,000 B (1.02 MB) | — | 91.30% | — | 0.800 | — |"), "\(markdown)")
        #expect(report.terminalTable().contains("no float32 baseline"))
    }

    @Test func terminalTableIsAligned() throws {
        let table = Self.report().terminalTable()
        let lines = table.split(separator: "\n").map(String.init)
        #expect(lines.count == 2 + Self.variants.count)
        // Numbers are right-aligned up to the last column, so every line ends in the same column.
        #expect(Set(lines.map(\.count)).count == 1, "\n\(table)")
        #expect(lines[1].allSatisfy { $0 == "-" || $0 == " " })
        // Every column starts where its rule starts.
        let ruleStarts = lines[1].indices.filter { lines[1][$0] == "-" && ($0 == lines[1].startIndex || lines[1][lines[1].index(before: $0)] == " ") }
            .map { lines[1].distance(from: lines[1].startIndex, to: $0) }
        #expect(ruleStarts.count == PipelineReport.terminalColumns.count)
        let int8 = try #require(lines.first { $0.hasPrefix("int8 (PTQ) ") })
        let cells = int8.split(separator: "  ", omittingEmptySubsequences: true).map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(cells == ["int8 (PTQ)", "model_int8.tflite", "1.02 MB", "25.5%", "91.30%", "\u{2212}0.14", "0.800", "2.50x"])
        #expect(lines[0].hasPrefix("variant "))
    }

    @Test func markdownEscapesNames() throws {
        let (_, report) = Self.edgeCases[4]
        let markdown = report.markdown()
        #expect(markdown.contains("| a\\<b\\&c | `a\"b'.tflite` |"), "\(markdown)")
        #expect(markdown.contains("- **Dataset:** x \\& y \\<z\\> \"q\""))
    }

    @Test func formatting() {
        #expect(ReportFormat.grouped(0) == "0")
        #expect(ReportFormat.grouped(999) == "999")
        #expect(ReportFormat.grouped(1000) == "1,000")
        #expect(ReportFormat.grouped(-1_646_704) == "-1,646,704")
        #expect(ReportFormat.significant(1.2345) == "1.23")
        #expect(ReportFormat.significant(0.045678) == "0.0457")
        #expect(ReportFormat.significant(9.996) == "10.0")
        #expect(ReportFormat.significant(123.4) == "123")
        #expect(ReportFormat.significant(1234.5) == "1,230")
        #expect(ReportFormat.bytes(980) == "980 B")
        #expect(ReportFormat.bytes(420_123) == "420 kB")
        #expect(ReportFormat.bytes(999_999) == "1.00 MB")
        #expect(ReportFormat.bytes(1_646_704) == "1.65 MB")
        #expect(ReportFormat.percent(0.91437) == "91.44%")
        #expect(ReportFormat.ratioPercent(0.2537) == "25.4%")
        #expect(ReportFormat.signedPoints(0.031) == "+0.03")
        #expect(ReportFormat.signedPoints(-0.41) == "\u{2212}0.41")
        #expect(ReportFormat.signedPoints(-0.004) == "±0.00")
        #expect(ReportFormat.speedup(2.3127) == "2.31x")
    }

    // MARK: JSON

    @Test(arguments: edgeCases.map(\.0))
    func jsonRoundTrip(_ name: String) throws {
        let report = try #require(Self.edgeCases.first { $0.0 == name }).1
        let text = try report.json()
        #expect(try PipelineReport(json: text) == report)
        // snake_case keys everywhere.
        func keys(_ any: Any) -> [String] {
            if let object = any as? [String: Any] { return object.keys + object.values.flatMap(keys) }
            if let array = any as? [Any] { return array.flatMap(keys) }
            return []
        }
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8))
        for key in keys(object) {
            #expect(key.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, "key \(key) is not snake_case")
        }
    }

    @Test func jsonHasDerivedValues() throws {
        let text = try Self.report().json()
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["created", "machine", "dataset", "float_training", "qat_training", "variants", "baseline_variant"])
        #expect(object["baseline_variant"] as? String == "float32")
        let variants = try #require(object["variants"] as? [[String: Any]])
        #expect(variants.count == 5)
        let int8 = variants[2]
        #expect(int8["name"] as? String == "int8 (PTQ)")
        #expect(int8["file_bytes"] as? Int == 1_020_000)
        let latency = try #require(int8["latency_ms"] as? [String: Any])
        #expect(latency["median"] as? Double == 0.8)
        let vs = try #require(int8["vs_float"] as? [String: Double])
        #expect(abs(vs["size_fraction"]! - 0.255) < 1e-12)
        #expect(abs(vs["accuracy_change_points"]! - -0.14) < 1e-9)
        #expect(abs(vs["speedup"]! - 2.5) < 1e-12)
        let epochs = try #require(object["float_training"] as? [[String: Any]])
        #expect(epochs.count == 5 && epochs[4]["val_accuracy"] as? Double == 0.9144)
        // Pretty-printed with sorted keys.
        #expect(text.contains("\n  \"baseline_variant\" : \"float32\",\n  \"created\""))
        // Without a baseline: no derived values.
        let none = try Self.report(variants: Array(Self.variants.dropFirst())).json()
        #expect(!none.contains("vs_float") && !none.contains("baseline_variant"))
    }

    // MARK: SVG

    /// Well-formed standalone SVG 1.1 with the attributes a browser needs.
    static func checkDocument(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> XMLElementNode {
        #expect(text.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\""), sourceLocation: sourceLocation)
        let svg = try parseXML(text, sourceLocation: sourceLocation)
        #expect(svg.name == "svg", sourceLocation: sourceLocation)
        #expect(svg.attributes["xmlns"] == "http://www.w3.org/2000/svg", sourceLocation: sourceLocation)
        #expect(svg.attributes["version"] == "1.1", sourceLocation: sourceLocation)
        let width = try svg.number("width"), height = try svg.number("height")
        #expect(svg.attributes["viewBox"] == "0 0 \(SVGDocument.number(width)) \(SVGDocument.number(height))", sourceLocation: sourceLocation)
        #expect(svg.children.first?.name == "title" && svg.children.first?.text.isEmpty == false, sourceLocation: sourceLocation)
        // Nothing drawn outside the canvas.
        for element in svg.descendants {
            for key in ["x", "x1", "x2", "cx"] {
                if let v = element.attributes[key].flatMap(Double.init) { #expect(v >= 0 && v <= width, "\(element.name) \(key)=\(v)", sourceLocation: sourceLocation) }
            }
            for key in ["y", "y1", "y2", "cy"] {
                if let v = element.attributes[key].flatMap(Double.init) { #expect(v >= 0 && v <= height, "\(element.name) \(key)=\(v)", sourceLocation: sourceLocation) }
            }
        }
        // Axis titles.
        #expect(!svg.descendants.filter { $0.classes.contains("axis-title") }.isEmpty, sourceLocation: sourceLocation)
        return svg
    }

    @Test(arguments: edgeCases.map(\.0))
    func accuracyVsSizeShowsEveryVariant(_ name: String) throws {
        let report = try #require(Self.edgeCases.first { $0.0 == name }).1
        let svg = try Self.checkDocument(report.accuracyVsSizeSVG())
        let x = try ReadAxis(svg, "x"), y = try ReadAxis(svg, "y")
        #expect(x.lower == 0, "sizes are drawn from zero")
        #expect(y.lower >= 0 && y.upper <= 100)
        let points = svg.groups("point")
        #expect(points.count == report.variants.count)
        for (point, variant) in zip(points, report.variants) {
            let label = try #require(point.children.first { $0.classes.contains("point-label") })
            #expect(label.text == variant.name)
            #expect(try point.child("title").text.hasPrefix(variant.name + ":"))
            let circle = try point.child("circle")
            let mb = x.value(try circle.number("cx")), percent = y.value(try circle.number("cy"))
            #expect(abs(mb - Double(variant.fileBytes) / 1e6) <= 0.02 * x.unitsPerPixel, "\(variant.name): x \(mb) MB")
            #expect(abs(percent - variant.accuracy * 100) <= 0.02 * y.unitsPerPixel, "\(variant.name): y \(percent)%")
            // Inside the axes' ranges, with the data padded off the top and bottom edges unless at 100%.
            #expect(mb >= x.lower && mb <= x.upper && percent >= y.lower && percent <= y.upper)
        }
    }

    @Test(arguments: edgeCases.map(\.0))
    func latencyBarsAreProportional(_ name: String) throws {
        let report = try #require(Self.edgeCases.first { $0.0 == name }).1
        let svg = try Self.checkDocument(report.latencySVG())
        let x = try ReadAxis(svg, "x")
        #expect(x.lower == 0, "bars start at zero")
        let bars = svg.groups("bar")
        #expect(bars.count == report.variants.count)
        for (bar, variant) in zip(bars, report.variants) {
            let category = try #require(bar.children.first { $0.classes.contains("category") })
            #expect(category.text == variant.name)
            let rect = try bar.child("rect")
            let left = try rect.number("x"), width = try rect.number("width")
            let tolerance = 0.02 * x.unitsPerPixel
            #expect(abs(x.value(left)) <= tolerance, "\(variant.name): the bar starts at 0")
            #expect(abs(x.value(left + width) - variant.latencyMs.median) <= 2 * tolerance,
                    "\(variant.name): the bar ends at \(x.value(left + width)), median \(variant.latencyMs.median)")
            let whisker = try #require(bar.groups("whisker").first).child("line")
            #expect(abs(x.value(try whisker.number("x1")) - variant.latencyMs.min) <= tolerance)
            #expect(abs(x.value(try whisker.number("x2")) - variant.latencyMs.max) <= tolerance)
            let value = try #require(bar.children.first { $0.classes.contains("value") })
            #expect(value.text == ReportFormat.significant(variant.latencyMs.median) + " ms")
            #expect(variant.latencyMs.max <= x.upper)
        }
        // Lengths compare: bar widths over medians are one constant.
        let ratios = try zip(bars, report.variants).filter { $0.1.latencyMs.median > 0 }.map { bar, variant in
            try bar.child("rect").number("width") / variant.latencyMs.median
        }
        if let first = ratios.first {
            for r in ratios { #expect(abs(r - first) <= 0.02 / report.variants.map(\.latencyMs.median).min()! + 1e-9 * first) }
        }
        #expect(!svg.groups("legend").isEmpty, "a legend says what bars and whiskers are")
    }

    @Test(arguments: edgeCases.map(\.0))
    func trainingCurvesHaveOneVertexPerEpoch(_ name: String) throws {
        let report = try #require(Self.edgeCases.first { $0.0 == name }).1
        let svg = try Self.checkDocument(report.trainingCurvesSVG())
        let x = try ReadAxis(svg, "x"), y = try ReadAxis(svg, "y")
        #expect(y.lower >= 0 && y.upper <= 100)
        // The curves expected: (name, epochs on the shared axis, accuracy %).
        var expected: [(String, [(Double, Double)])] = []
        let f = report.floatTraining.count
        for (run, records, offset) in [("float", report.floatTraining, 0), ("QAT", report.qatTraining, f)] {
            let train = records.enumerated().map { (Double(offset + $0.offset + 1), $0.element.accuracy * 100) }
            let val = records.enumerated().compactMap { i, r in r.valAccuracy.map { (Double(offset + i + 1), $0 * 100) } }
            if !train.isEmpty { expected.append(("\(run): accuracy (train)", train)) }
            if !val.isEmpty { expected.append(("\(run): val_accuracy", val)) }
        }
        let series = svg.groups("series")
        #expect(series.map { (try? $0.child("title").text) ?? "" } == expected.map(\.0))
        for (group, (seriesName, points)) in zip(series, expected) {
            let polyline = try group.child("polyline")
            let vertices = try #require(polyline.attributes["points"]).split(separator: " ").map { pair in
                pair.split(separator: ",").map { Double($0)! }
            }
            #expect(vertices.count == points.count, "\(seriesName): one vertex per epoch")
            #expect(group.children.filter { $0.name == "circle" }.count == points.count, "\(seriesName): one marker per epoch")
            for (vertex, (epoch, percent)) in zip(vertices, points) {
                #expect(abs(x.value(vertex[0]) - epoch) <= 0.02 * x.unitsPerPixel, "\(seriesName): epoch \(epoch)")
                #expect(abs(y.value(vertex[1]) - percent) <= 0.02 * y.unitsPerPixel, "\(seriesName): epoch \(epoch) accuracy")
            }
        }
        // A legend entry per curve, in the same order.
        let legend = svg.groups("legend-entry").map { (try? $0.child("text").text) ?? "" }
        #expect(legend == expected.map(\.0))
        if expected.isEmpty {
            #expect(svg.descendants.contains { $0.classes.contains("no-data") })
        }
        // Epoch ticks are whole numbers.
        #expect(x.ticks.allSatisfy { $0.value == $0.value.rounded() })
    }

    @Test func escapedNamesReadBackExactly() throws {
        let (_, report) = Self.edgeCases[4]
        for text in [report.accuracyVsSizeSVG(), report.latencySVG(), report.trainingCurvesSVG()] {
            #expect(!text.contains("a<b&c"), "raw markup characters in the SVG")
            _ = try Self.checkDocument(text)
        }
        let svg = try parseXML(report.accuracyVsSizeSVG())
        #expect(svg.descendants.contains { $0.name == "text" && $0.text == "x & y <z> \"q\"; up and to the left is better" })
        #expect(SVGDocument.escaped("a<b&c\"d'e\u{1}") == "a&lt;b&amp;c&quot;d&apos;e")
    }

    @Test func niceScales() {
        let a = AxisScale(covering: [91.3, 91.97], pixels: (400, 0), padding: 0.15, minimumSpan: 1, limits: 0...100)
        #expect(a.lower <= 91.3 - 0.1 && a.upper >= 91.97 + 0.1)
        #expect([0.1, 0.2, 0.5].contains(a.step))
        #expect(a.position(a.lower) == 400 && a.position(a.upper) == 0)
        // Equal values: a span around them, not a zero-width axis.
        let flat = AxisScale(covering: [5, 5, 5], pixels: (0, 100), minimumSpan: 1)
        #expect(flat.lower < 5 && flat.upper > 5)
        // A single value with zero included starts at zero.
        let one = AxisScale(covering: [2.5], pixels: (0, 100), includeZero: true)
        #expect(one.lower == 0 && one.upper >= 2.5)
        #expect(AxisScale.niceStep(0.13) == 0.2 && AxisScale.niceStep(3) == 5 && AxisScale.niceStep(700) == 1000)
        #expect(AxisScale(covering: [0, 0.3], pixels: (0, 1), padding: 0, minimumSpan: 0.1).ticks.contains(0.3))
    }

    // MARK: Files

    @Test func writesEveryFileAtomically() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("quantkit-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let report = Self.report()
        let written = try report.write(to: directory)
        #expect(Set(written.map(\.lastPathComponent)) == [
            "report.md", "report.json", "accuracy_vs_size.svg", "latency.svg", "training_curves.svg",
        ])
        let listing = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(Set(listing) == Set(written.map(\.lastPathComponent)), "no temporary files left behind")
        #expect(try String(contentsOf: directory.appendingPathComponent("report.md"), encoding: .utf8) == report.markdown())
        let json = try String(contentsOf: directory.appendingPathComponent("report.json"), encoding: .utf8)
        #expect(try PipelineReport(json: json) == report)
        for file in written where file.pathExtension == "svg" {
            _ = try Self.checkDocument(try String(contentsOf: file, encoding: .utf8))
        }
    }

    /// With `QUANTKIT_REPORT_SAMPLE_DIR` set, writes the fixture's report there, to look at in a browser.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["QUANTKIT_REPORT_SAMPLE_DIR"] != nil))
    func writesSampleForALook() throws {
        let directory = URL(fileURLWithPath: ProcessInfo.processInfo.environment["QUANTKIT_REPORT_SAMPLE_DIR"]!)
        try Self.report().write(to: directory)
        for (name, report) in Self.edgeCases.dropFirst() {
            try report.write(to: directory.appendingPathComponent(name.replacingOccurrences(of: " ", with: "-")))
        }
    }

    @Test func unwritableDirectoryThrows() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("quantkit-report-file-\(UUID().uuidString)")
        try Data("x".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        #expect(throws: (any Error).self) { try Self.report().write(to: file.appendingPathComponent("out")) }
    }

    @Test func machineDescriptionOfThisMachine() {
        let machine = MachineDescription.current()
        #expect(!machine.cpu.isEmpty && machine.logicalCores >= 1)
        #expect(["avx512amx", "avx512vnni", "avx2", "portable"].contains(machine.simdBackend))
    }
}
