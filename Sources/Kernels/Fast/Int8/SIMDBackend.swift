import CKernels

#if canImport(Glibc)
import Glibc
#endif

/// The instruction set the fast int8 kernels run on.
///
/// The micro-kernels for `.avx512amx`, `.avx512vnni` and `.avx2` live in the `CKernels` C target, each
/// compiled for its instruction set with a per-function target attribute; `.portable` is plain Swift
/// (plus the portable C version of the hybrid input quantization) and runs on any CPU. All of them give
/// the same int32 accumulators and the same outputs, value for value.
public enum SIMDBackend: String, Sendable, Hashable, CaseIterable {
    /// `.avx512vnni` with the int8 GEMMs of 16 rows or more on AMX-INT8 tiles (`tdpbusd`, 16 × 16 × 64
    /// products per instruction): Intel Sapphire Rapids and later, on an OS that grants the tile state.
    case avx512amx
    /// AVX-512 F/BW/VL/DQ + VNNI (`vpdpbusd`): Intel Ice Lake and later, AMD Zen 4 and later.
    case avx512vnni
    /// AVX2 (+ FMA) without VNNI: `vpmaddwd` on sign-extended weights (Haswell and later, AMD Zen).
    case avx2
    /// Plain Swift; the reference for the other two and the fallback on any other CPU.
    case portable

    /// Whether this CPU (and OS) can run the backend.
    public var isSupported: Bool {
        switch self {
        case .avx512amx: Self.cpuHasAMX
        case .avx512vnni: Self.cpuHasAVX512VNNI
        case .avx2: Self.cpuHasAVX2
        case .portable: true
        }
    }

    /// The backends this CPU supports, fastest first (`.portable` always last).
    public static var supported: [SIMDBackend] { allCases.filter(\.isSupported) }

    /// The fastest backend this CPU supports, detected once.
    public static let detected: SIMDBackend = supported[0]

    /// The backend kernels use by default: ``detected``, unless the environment variable
    /// `QUANTKIT_SIMD` names a supported one (`portable`, `avx2`, `avx512vnni` or `avx512amx`). An unknown or
    /// unsupported name is ignored.
    public static let best: SIMDBackend = {
        if let raw = getenv("QUANTKIT_SIMD"), let requested = SIMDBackend(rawValue: String(cString: raw)),
           requested.isSupported {
            return requested
        }
        return detected
    }()

    private static let cpuHasAMX = qk_cpu_supports_amx_int8() != 0
    private static let cpuHasAVX512VNNI = qk_cpu_supports_avx512vnni() != 0
    private static let cpuHasAVX2 = qk_cpu_supports_avx2() != 0
}
