import Foundation
import Testing
import Datasets

/// gzip-compresses `bytes` with the system's gzip (tests only).
func gzipped(_ bytes: [UInt8]) throws -> [UInt8] {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qk-gz-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("f")
    try Data(bytes).write(to: file)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/bin/gzip")
    p.arguments = ["-n", file.path]
    try p.run()
    p.waitUntilExit()
    return [UInt8](try Data(contentsOf: dir.appendingPathComponent("f.gz")))
}

func idx(rank: Int, dims: [Int], fill: UInt8 = 7, extra: Int = 0) -> [UInt8] {
    var b: [UInt8] = [0, 0, 8, UInt8(rank)]
    for d in dims { b += [UInt8(d >> 24 & 255), UInt8(d >> 16 & 255), UInt8(d >> 8 & 255), UInt8(d & 255)] }
    return b + [UInt8](repeating: fill, count: dims.reduce(1, *) + extra)
}

/// Writes a fake FashionMNIST directory (gzip'd IDX files) and returns it.
func fakeDataset(images: Int = 5, labels: Int = 5, side: Int = 28, labelValue: UInt8 = 3,
                 corruptImages: Bool = false) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qk-data-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    for prefix in ["train", "t10k"] {
        var img = try gzipped(idx(rank: 3, dims: [images, side, side], fill: 255))
        if corruptImages { img[img.count / 2] ^= 0xFF; img[img.count / 2 + 1] ^= 0xFF }
        try Data(img).write(to: dir.appendingPathComponent("\(prefix)-images-idx3-ubyte.gz"))
        try Data(try gzipped(idx(rank: 1, dims: [labels], fill: labelValue))).write(to: dir.appendingPathComponent("\(prefix)-labels-idx1-ubyte.gz"))
    }
    return dir
}

@Suite("IDX and FashionMNIST")
struct IDXTests {
    @Test func decodesAGoodFile() throws {
        let a = try IDX.decode(idx(rank: 3, dims: [2, 3, 4]), rank: 3, path: "x")
        #expect(a.dimensions == [2, 3, 4])
        #expect(a.bytes.count == 24)
    }

    @Test func badMagicWrongRankAndTruncationAreNamed() {
        var bad = idx(rank: 1, dims: [3]); bad[2] = 0x0D
        let cases: [([UInt8], Int, DatasetError.Kind)] = [
            (bad, 1, .badMagic),
            (idx(rank: 2, dims: [3, 3]), 3, .wrongDimensions),
            (Array(idx(rank: 1, dims: [10]).dropLast(2)), 1, .truncated),
            (idx(rank: 1, dims: [10], extra: 1), 1, .truncated),
            ([0, 0], 1, .truncated),
            ([0, 0, 8, 3, 0, 0], 3, .truncated),
            ([0, 0, 8, 3, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 2], 3, .wrongDimensions),
        ]
        for (bytes, rank, kind) in cases {
            #expect {
                try IDX.decode(bytes, rank: rank, path: "f.idx")
            } throws: { error in
                let e = error as? DatasetError
                return e?.kind == kind && e?.path == "f.idx"
            }
        }
    }

    @Test func corruptGzipNamesTheFile() throws {
        let dir = try fakeDataset(corruptImages: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect {
            try FashionMNIST.load(.train, directory: dir.path)
        } throws: { error in
            let e = error as? DatasetError
            return e?.kind == .gzip && e!.path.hasSuffix("train-images-idx3-ubyte.gz")
        }
        #expect(throws: DatasetError.self) { _ = try Gzip.inflate([0x1f, 0x8b] + [UInt8](repeating: 0, count: 30), path: "z") }
    }

    @Test func imageAndLabelCountsMustAgree() throws {
        let dir = try fakeDataset(images: 5, labels: 4)
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect {
            try FashionMNIST.load(.test, directory: dir.path)
        } throws: { error in
            let e = error as? DatasetError
            return e?.kind == .inconsistent && e!.message.contains("4 labels for 5 images")
        }
    }

    @Test func wrongImageSizeAndBadLabelsAreRejected() throws {
        let small = try fakeDataset(side: 14)
        let badLabel = try fakeDataset(labelValue: 12)
        defer { try? FileManager.default.removeItem(at: small); try? FileManager.default.removeItem(at: badLabel) }
        #expect { try FashionMNIST.load(.train, directory: small.path) } throws: { ($0 as? DatasetError)?.kind == .wrongDimensions }
        #expect { try FashionMNIST.load(.train, directory: badLabel.path) } throws: { ($0 as? DatasetError)?.kind == .inconsistent }
    }

    @Test func missingDatasetSaysWhatToInstall() {
        #expect {
            try FashionMNIST.load(.train, directory: "/nonexistent/qk")
        } throws: { error in
            let e = error as? DatasetError
            return e?.kind == .missing && e!.message.contains("dataset-fashion-mnist") && e!.message.contains("--data")
        }
    }

    @Test func fakeDatasetLoadsScaled() throws {
        let dir = try fakeDataset()
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = try FashionMNIST.load(.train, directory: dir.path)
        #expect(d.count == 5)
        #expect(d.images.allSatisfy { $0 == 1 })
        #expect(d.labels == [3, 3, 3, 3, 3])
    }

    @Test func realFashionMNIST() throws {
        // The Debian package dataset-fashion-mnist; the test scripts install it.
        let train = try FashionMNIST.load(.train)
        let test = try FashionMNIST.load(.test)
        #expect(train.count == 60_000)
        #expect(test.count == 10_000)
        #expect(train.sampleShape == [28, 28, 1])
        #expect(train.images.min()! == 0 && train.images.max()! == 1)
        #expect(Array(test.labels.prefix(5)) == [9, 2, 1, 1, 6])
        var counts = [Int](repeating: 0, count: 10)
        for l in test.labels { counts[Int(l)] += 1 }
        #expect(counts.allSatisfy { $0 == 1000 })
        let (a, v) = train.split(validationCount: 5000)
        #expect(a.count == 55_000 && v.count == 5000)
        let (a2, _) = train.split(validationCount: 5000)
        #expect(a.labels == a2.labels, "the split is seeded")
    }
}
