import Runtime

extension TFLiteFile {
    /// How ``TFLiteFile/encode(_:options:)`` turns a ``Runtime/Graph`` into a `.tflite` file.
    ///
    /// The default writes the graph as it is (so that reading the file gives back an equal graph);
    /// ``converterLike`` adds what the TensorFlow Lite converter would: operator versions raised to
    /// the converter's, a computed `min_runtime_version` and a `serving_default` signature.
    public struct WriteOptions: Sendable, Equatable {
        /// Where each `OperatorCode.version` comes from.
        public enum OperatorVersions: Sendable, Equatable {
            /// The operator's ``Runtime/GraphOperator/version``; a version ≤ 0 ("unknown") is replaced
            /// by the converter's (``TFLiteVersions/converterVersions(of:)``).
            case asStored
            /// The larger of the stored and the converter's version (the converter's own
            /// `UpdateOpVersion` never lowers a version).
            case atLeastConverter
            /// The converter's version for every operator (``TFLiteVersions/converterVersions(of:)``:
            /// per kind, the highest any operator of that kind needs).
            case converter
        }

        /// What happens to the `min_runtime_version` metadata entry.
        public enum MinRuntimeVersion: Sendable, Equatable {
            /// Written exactly as the graph's ``Runtime/Graph/metadata`` has it (or not at all).
            case asStored
            /// Set to ``TFLiteVersions/minimumRuntime(of:versions:)`` of the written versions: the
            /// graph's entry keeps its place with new bytes, or an entry is appended. The buffer is
            /// 16 bytes, NUL-padded; when no operator has a known minimum, or the string would need
            /// 16 bytes or more, the graph's metadata is left as it is (as the converter does).
            case computed
            /// Left out even if the graph has one.
            case omitted
        }

        public var operatorVersions: OperatorVersions
        public var minRuntimeVersion: MinRuntimeVersion
        /// When the graph has no signatures, write one named `serving_default` whose inputs and
        /// outputs are the graph's, aliased `input_0`, `input_1`, … and `output_0`, … (so that
        /// LiteRT's `get_signature_runner()` works). Signatures the graph has are always kept.
        public var addServingDefaultSignature: Bool

        public init(operatorVersions: OperatorVersions = .asStored, minRuntimeVersion: MinRuntimeVersion = .asStored,
                    addServingDefaultSignature: Bool = false) {
            self.operatorVersions = operatorVersions
            self.minRuntimeVersion = minRuntimeVersion
            self.addServingDefaultSignature = addServingDefaultSignature
        }

        /// The graph as it is.
        public static var asStored: WriteOptions { WriteOptions() }

        /// Versions at least the converter's, computed `min_runtime_version`, and a `serving_default`
        /// signature when the graph has none.
        public static var converterLike: WriteOptions {
            WriteOptions(operatorVersions: .atLeastConverter, minRuntimeVersion: .computed, addServingDefaultSignature: true)
        }
    }
}
