/// A problem with a dataset file or directory, naming the file and what is wrong.
public struct DatasetError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The dataset directory or a file in it does not exist.
        case missing
        /// The file exists but cannot be read.
        case unreadable
        /// The gzip stream is corrupt or truncated.
        case gzip
        /// The IDX magic number is not the one expected.
        case badMagic
        /// The IDX dimensions are not the ones expected (e.g. images not 28x28).
        case wrongDimensions
        /// The file is shorter (or longer) than its header says.
        case truncated
        /// Image and label files disagree in count, or a label is out of range.
        case inconsistent
    }

    public var kind: Kind
    /// The file (or directory) concerned.
    public var path: String
    /// A sentence that says what is wrong and, where it helps, what to do.
    public var message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
