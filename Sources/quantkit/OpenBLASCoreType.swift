import Foundation
import QuantKit

#if canImport(Glibc)
import Glibc
#endif

/// Restarts a training command with a better OpenBLAS kernel set when OpenBLAS did not recognize the CPU.
///
/// Debian 12's OpenBLAS 0.3.21 does not know Sapphire Rapids / Emerald Rapids Xeons and falls back
/// to its generic `Prescott` (SSE3) kernels: the seed CNN's epochs took 125 s instead of ~50 s on
/// this project's Emerald Rapids machine. OpenBLAS picks its kernels when the library loads, before
/// `main`, from `OPENBLAS_CORETYPE`, so the only fix from inside is to set it and `exec` the same
/// binary again. That happens only when the variable is unset, OpenBLAS chose a generic kernel set,
/// and the CPU has the instruction set of a named one (AVX-512 F/BW/DQ/VL → `SkylakeX`,
/// AVX2 + FMA → `Haswell`); a variable the user set is always kept.
enum OpenBLASCoreType {
    /// OpenBLAS's generic kernel sets, chosen for CPUs it has no entry for.
    static let generic: Set<String> = ["Prescott", "Core2", "Nehalem", "Penryn", "Dunnington", "Katmai", "Coppermine",
                                       "Northwood", "Banias", "Atom", "unknown"]

    /// The core type to ask for, or nil when OpenBLAS's own choice stands.
    static var suggested: String? {
        guard generic.contains(BLAS.coreName) else { return nil }
        if SIMDBackend.avx512vnni.isSupported { return "SkylakeX" }
        if SIMDBackend.avx2.isSupported { return "Haswell" }
        return nil
    }

    /// Re-executes this process with `OPENBLAS_CORETYPE` set when ``suggested`` has one (returns only
    /// when nothing was to be done or `exec` failed, in which case the run goes on as it is).
    static func restartIfNeeded() {
        guard getenv("OPENBLAS_CORETYPE") == nil, let core = suggested else { return }
        note("quantkit: OpenBLAS \(BLAS.coreName) kernels on this CPU, which it does not recognize; "
             + "restarting with OPENBLAS_CORETYPE=\(core) (set OPENBLAS_CORETYPE to choose yourself)")
        setenv("OPENBLAS_CORETYPE", core, 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        note("quantkit: could not restart (\(String(cString: strerror(errno)))); training with the \(BLAS.coreName) kernels")
    }
}
