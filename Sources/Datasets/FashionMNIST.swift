import Foundation

/// FashionMNIST (Zalando, 70,000 28x28 grey images in 10 classes) from its IDX `.gz` files.
///
/// The files come from the Debian package `dataset-fashion-mnist`, under
/// `/usr/share/datasets/fashion-mnist`. The directory can be overridden by an explicit
/// argument (the CLI's `--data DIR`) or the environment variable `QUANTKIT_DATA`.
public enum FashionMNIST {
    /// Where the Debian package puts the files.
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    /// The environment variable that overrides `defaultDirectory`.
    public static let environmentVariable = "QUANTKIT_DATA"
    /// The class names, by label.
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    /// The shape of one image, NHWC without the batch.
    public static let sampleShape = [28, 28, 1]

    /// Which part of the dataset.
    public enum Part: String, Sendable {
        case train, test
        var filePrefix: String { self == .train ? "train" : "t10k" }
    }

    /// The directory to read: `explicit` if given, else `$QUANTKIT_DATA`, else the default.
    public static func directory(_ explicit: String? = nil) -> URL {
        if let explicit, !explicit.isEmpty { return URL(fileURLWithPath: explicit) }
        if let env = ProcessInfo.processInfo.environment[environmentVariable], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        return URL(fileURLWithPath: defaultDirectory)
    }

    /// Loads one part (60,000 training or 10,000 test images), scaled to [0, 1].
    ///
    /// - Throws: `DatasetError`: a missing directory says which package to install or which
    ///   flag to pass; a corrupt file names the file and the problem.
    public static func load(_ part: Part, directory explicit: String? = nil) throws -> LabeledImages {
        let dir = directory(explicit)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw DatasetError(.missing, path: dir.path, """
                FashionMNIST not found. Install it with `apt-get install dataset-fashion-mnist` \
                (it goes to \(defaultDirectory)), or pass --data DIR / set \(environmentVariable)=DIR \
                to a directory holding the IDX files (train-images-idx3-ubyte.gz, ...)
                """)
        }
        let imagesURL = try file(dir, "\(part.filePrefix)-images-idx3-ubyte")
        let labelsURL = try file(dir, "\(part.filePrefix)-labels-idx1-ubyte")
        let images = try IDX.read(imagesURL, rank: 3)
        let labels = try IDX.read(labelsURL, rank: 1)
        guard images.dimensions[1] == 28, images.dimensions[2] == 28 else {
            throw DatasetError(.wrongDimensions, path: imagesURL.path,
                               "images are \(images.dimensions[1])x\(images.dimensions[2]), expected 28x28")
        }
        guard images.dimensions[0] == labels.dimensions[0] else {
            throw DatasetError(.inconsistent, path: labelsURL.path,
                               "\(labels.dimensions[0]) labels for \(images.dimensions[0]) images in \(imagesURL.lastPathComponent)")
        }
        if let bad = labels.bytes.firstIndex(where: { $0 >= 10 }) {
            throw DatasetError(.inconsistent, path: labelsURL.path, "label \(labels.bytes[bad]) at index \(bad) is not in 0...9")
        }
        let scale: Float = 1.0 / 255.0
        let floats = images.bytes.map { Float($0) * scale }
        return LabeledImages(images: floats, labels: labels.bytes.map { Int32($0) },
                             sampleShape: sampleShape, classCount: 10)
    }

    private static func file(_ dir: URL, _ stem: String) throws -> URL {
        let fm = FileManager.default
        for name in ["\(stem).gz", stem] {
            let url = dir.appendingPathComponent(name)
            if fm.fileExists(atPath: url.path) { return url }
        }
        throw DatasetError(.missing, path: dir.appendingPathComponent("\(stem).gz").path, """
            file not found. The Debian package dataset-fashion-mnist provides it; \
            or pass --data DIR / set \(environmentVariable) to a directory that has it
            """)
    }
}
