import Foundation
import NeuralNet

/// The main table, as Markdown (`report.md`) and as aligned plain text (the terminal).
extension PipelineReport {
    /// The main table's column headers in `report.md`.
    public static let markdownColumns = [
        "variant", "file", "size", "size vs float", "test accuracy", "change vs float", "latency (median, ms)",
        "speed-up vs float",
    ]

    /// The same columns, shorter, for the terminal.
    public static let terminalColumns = [
        "variant", "file", "size", "vs float", "accuracy", "change (points)", "latency ms", "speed-up",
    ]

    /// Whether each column holds numbers (right-aligned).
    static let numericColumns = [false, false, true, true, true, true, true, true]

    /// The main table's cells, one row per variant, in ``markdownColumns`` order, not yet escaped.
    ///
    /// `compact` gives the terminal's cells: the size without the byte count, the change without "points".
    public func tableRows(compact: Bool = false) -> [[String]] {
        variants.map { variant in
            let comparison = comparison(for: variant)
            let missing = ReportFormat.missing
            return [
                variant.name,
                variant.file,
                compact ? ReportFormat.bytes(variant.fileBytes) : ReportFormat.bytesInFull(variant.fileBytes),
                comparison?.sizeFraction.map(ReportFormat.ratioPercent) ?? missing,
                ReportFormat.percent(variant.accuracy),
                comparison.map { ReportFormat.signedPoints($0.accuracyChangePoints) + (compact ? "" : " points") } ?? missing,
                ReportFormat.significant(variant.latencyMs.median),
                comparison?.speedup.map(ReportFormat.speedup) ?? missing,
            ]
        }
    }

    /// The main table as aligned plain text: a header, a rule, one line per variant; numbers right-aligned.
    public func terminalTable() -> String {
        let rows = [Self.terminalColumns] + tableRows(compact: true)
        let widths = Self.terminalColumns.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        func line(_ cells: [String]) -> String {
            zip(cells.indices, cells).map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return Self.numericColumns[column] ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        var lines = [line(rows[0]), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        lines += rows.dropFirst().map(line)
        if baseline == nil && !variants.isEmpty {
            lines.append("(no float32 baseline: figures relative to float are not shown)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `report.md`: the heading, when, where and on what data; the main table; the training runs; the charts.
    public func markdown() -> String {
        var out: [String] = ["# QuantKit pipeline report", ""]
        out.append("- **Created:** \(Self.markdownEscaped(created))")
        out.append("- **Machine:** \(Self.markdownEscaped(machine.cpu)), \(machine.logicalCores) logical "
                   + "core\(machine.logicalCores == 1 ? "" : "s"), SIMD backend `\(machine.simdBackend)`")
        out.append("- **Dataset:** \(Self.markdownEscaped(dataset))")
        if let settings = latencySettings() {
            out.append("- **Latency:** \(settings)")
        }
        out.append("")

        out.append("## Models")
        out.append("")
        out.append("| " + Self.markdownColumns.joined(separator: " | ") + " |")
        out.append("|" + Self.numericColumns.map { $0 ? "---:" : "---" }.joined(separator: "|") + "|")
        for (variant, cells) in zip(variants, tableRows()) {
            var escaped = cells.map(Self.markdownEscaped)
            escaped[1] = Self.markdownCode(variant.file)
            out.append("| " + escaped.joined(separator: " | ") + " |")
        }
        out.append("")
        if let baseline {
            out.append("Size, accuracy and speed are compared with \(Self.markdownEscaped(baseline.name)); "
                       + "accuracy changes are in percentage points; speed-up is the baseline's median latency "
                       + "over the variant's.")
        } else if !variants.isEmpty {
            out.append("No float32 baseline in this run: the columns relative to float show \(ReportFormat.missing).")
        }
        out.append("")

        let runs = [("float", floatTraining), ("QAT", qatTraining)].filter { !$0.1.isEmpty }
        if !runs.isEmpty {
            out.append("## Training")
            out.append("")
            out.append("| run | epochs | final accuracy (train) | final val accuracy | median epoch time |")
            out.append("|---|---:|---:|---:|---:|")
            for (name, records) in runs {
                let summary = TrainingSummary(records)
                let cells = [
                    name, String(summary.epochs),
                    summary.finalAccuracy.map { ReportFormat.percent($0) } ?? ReportFormat.missing,
                    summary.finalValAccuracy.map { ReportFormat.percent($0) } ?? ReportFormat.missing,
                    summary.medianEpochSeconds.map(ReportFormat.seconds) ?? ReportFormat.missing,
                ]
                out.append("| " + cells.joined(separator: " | ") + " |")
            }
            out.append("")
        }

        out.append("## Charts")
        out.append("")
        out.append("![Test accuracy against file size](\(Self.accuracyVsSizeChartFile))")
        out.append("")
        out.append("![Median latency per variant](\(Self.latencyChartFile))")
        out.append("")
        if !runs.isEmpty {
            out.append("![Training curves](\(Self.trainingChartFile))")
            out.append("")
        }
        return out.joined(separator: "\n")
    }

    /// "per inference at batch 1 on 1 thread with the fast kernels, median of 200 timed runs", when
    /// every variant was measured the same way; else the settings of each.
    func latencySettings() -> String? {
        guard let first = variants.first else { return nil }
        func describe(_ v: VariantResult) -> String {
            "batch \(v.batch), \(v.threads) thread\(v.threads == 1 ? "" : "s"), \(Self.markdownEscaped(v.kernels)) kernels"
        }
        let uniform = variants.allSatisfy { describe($0) == describe(first) }
        let runs = Set(variants.map(\.latencyMs.runs))
        let runsText = runs.count == 1 && first.latencyMs.runs != nil ? "; median of \(first.latencyMs.runs!) timed runs" : ""
        if uniform {
            return "per inference, \(describe(first))\(runsText) (min and max in report.json)"
        }
        return "per inference; " + variants.map { "\(Self.markdownEscaped($0.name)): \(describe($0))" }.joined(separator: "; ")
            + runsText
    }

    /// `text` with Markdown's punctuation backslash-escaped, so it reads as itself in a table cell.
    static func markdownEscaped(_ text: String) -> String {
        var out = ""
        for c in text {
            if "\\`*_[]<>|&#".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out.replacingOccurrences(of: "\n", with: " ")
    }

    /// `text` as an inline code span (a `|` stays escaped, as GitHub tables require); escaped text
    /// when it holds a backtick.
    static func markdownCode(_ text: String) -> String {
        text.contains("`") || text.contains("\n") ? markdownEscaped(text) : "`" + text.replacingOccurrences(of: "|", with: "\\|") + "`"
    }
}
