import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// How much `fit` prints.
public enum Verbosity: Sendable {
    /// A live progress bar on a terminal, one line per epoch otherwise.
    case auto
    /// Always the live bar.
    case progressBar
    /// One line per epoch.
    case epochLines
    /// Nothing.
    case silent
}

/// Writes training progress to standard error: a live bar (step, loss, accuracy, samples/s,
/// ETA) on a terminal, plain per-epoch lines otherwise.
struct ProgressPrinter {
    let live: Bool
    let enabled: Bool
    private var lastDraw = 0.0

    init(_ verbosity: Verbosity) {
        switch verbosity {
        case .auto: live = isatty(STDERR_FILENO) != 0; enabled = true
        case .progressBar: live = true; enabled = true
        case .epochLines: live = false; enabled = true
        case .silent: live = false; enabled = false
        }
    }

    static func write(_ s: String) {
        FileHandle.standardError.write(Data(s.utf8))
    }

    mutating func step(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Double, accuracy: Double,
                       samplesPerSecond: Double, elapsed: Double) {
        guard enabled, live else { return }
        let now = elapsed
        guard step == steps || now - lastDraw >= 0.1 else { return }
        lastDraw = now
        let width = 24
        let done = steps > 0 ? step * width / steps : width
        let bar = String(repeating: "=", count: max(done - 1, 0)) + (done < width ? ">" : "=") +
            String(repeating: ".", count: width - done)
        let eta = step > 0 ? elapsed / Double(step) * Double(steps - step) : 0
        let text = String(format: "\rEpoch %d/%d %5d/%d [%@] loss: %.4f - accuracy: %.4f - %.0f samples/s - ETA %@ ",
                          epoch, epochs, step, steps, bar, loss, accuracy, samplesPerSecond, formatDuration(eta))
        ProgressPrinter.write(text)
    }

    func epochEnd(_ r: EpochRecord, epochs: Int, steps: Int) {
        guard enabled else { return }
        var text = String(format: "Epoch %d/%d - %d steps - %.1fs - %.0f samples/s - loss: %.4f - accuracy: %.4f",
                          r.epoch, epochs, steps, r.seconds, r.samplesPerSecond, r.loss, r.accuracy)
        if let vl = r.valLoss, let va = r.valAccuracy {
            text += String(format: " - val_loss: %.4f - val_accuracy: %.4f", vl, va)
        }
        ProgressPrinter.write((live ? "\r\u{1B}[K" : "") + text + "\n")
    }
}

/// `75` -> `1:15`, `5` -> `5s`.
func formatDuration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s < 60 ? "\(s)s" : String(format: "%d:%02d", s / 60, s % 60)
}
