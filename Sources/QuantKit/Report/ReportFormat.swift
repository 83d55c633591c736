import Foundation

/// Numbers as the report prints them: the way a careful person would write them by hand.
///
/// Locale-independent: `,` groups thousands and `.` is the decimal point, whatever the environment.
public enum ReportFormat {
    /// `1234567` → `"1,234,567"`.
    public static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    /// `x` with `digits` significant figures, without exponent: `1.2345` → `"1.23"`, `0.045678` →
    /// `"0.0457"`, `12.345` → `"12.3"`; from 10^(digits-1) up, a whole number with separators (`1234.5` → `"1,230"`).
    public static func significant(_ x: Double, digits: Int = 3) -> String {
        guard x.isFinite else { return x.isNaN ? "nan" : x < 0 ? "-inf" : "inf" }
        guard x != 0 else { return "0" }
        var exponent = Int(floor(log10(abs(x))))
        // Rounding can carry into the next power of ten (9.996 → 10.0).
        let unit = pow(10, Double(exponent - digits + 1))
        let rounded = (x / unit).rounded() * unit
        if rounded != 0 { exponent = Int(floor(log10(abs(rounded)))) }
        let decimals = max(0, digits - 1 - exponent)
        if decimals == 0 {
            return grouped(Int(rounded.rounded()))
        }
        return String(format: "%.\(decimals)f", rounded)
    }

    /// A byte count in decimal units with 3 significant figures: `"980 B"`, `"420 kB"`, `"1.65 MB"`, `"1.20 GB"`.
    public static func bytes(_ n: Int) -> String {
        let x = Double(n)
        if n < 1000 { return "\(n) B" }
        // Decide the unit after rounding, so 999,999 B reads 1.00 MB rather than 1,000 kB.
        for (limit, divisor, unit) in [(1e6, 1e3, "kB"), (1e9, 1e6, "MB"), (1e12, 1e9, "GB")] {
            let text = significant(x / divisor)
            if (Double(text.replacingOccurrences(of: ",", with: "")) ?? 0) * divisor < limit { return "\(text) \(unit)" }
        }
        return "\(significant(x / 1e12)) TB"
    }

    /// A byte count in full and in decimal units: `"1,646,704 B (1.65 MB)"`; under 1,000 bytes just `"980 B"`.
    public static func bytesInFull(_ n: Int) -> String {
        n < 1000 ? "\(n) B" : "\(grouped(n)) B (\(bytes(n)))"
    }

    /// A fraction in 0...1 as a percentage with `decimals` decimals: `0.91437` → `"91.44%"`.
    public static func percent(_ fraction: Double, decimals: Int = 2) -> String {
        String(format: "%.\(decimals)f%%", fraction * 100)
    }

    /// A ratio as a percentage with 3 significant figures: `0.2537` → `"25.4%"`, `1` → `"100%"`.
    public static func ratioPercent(_ fraction: Double) -> String {
        significant(fraction * 100) + "%"
    }

    /// A change in percentage points with an explicit sign and a true minus: `"+0.03"`, `"−0.41"`,
    /// and `"±0.00"` when it rounds to zero.
    public static func signedPoints(_ points: Double, decimals: Int = 2) -> String {
        let magnitude = String(format: "%.\(decimals)f", abs(points))
        if Double(magnitude) == 0 { return "±" + magnitude }
        return (points > 0 ? "+" : "\u{2212}") + magnitude
    }

    /// A speed-up: `2.3127` → `"2.31x"`.
    public static func speedup(_ ratio: Double) -> String {
        String(format: "%.2fx", ratio)
    }

    /// Seconds with 3 significant figures and a unit: `"41.2 s"`, `"0.512 s"`.
    public static func seconds(_ s: Double) -> String {
        significant(s) + " s"
    }

    /// What a table shows for a figure that is not there.
    public static let missing = "—"
}
