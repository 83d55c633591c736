import Foundation
import Testing

/// The README's Swift snippets are copied from Examples/SeedPipeline/main.swift, which CI compiles
/// (CLITests depend on it): every line of every ```swift block must be a line of that program, in
/// the same order, so a snippet cannot drift from code that builds.
@Suite("README snippets")
struct ReadmeSnippetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func swiftBlocks(_ markdown: String) -> [[String]] {
        var blocks: [[String]] = []
        var current: [String]?
        for line in markdown.split(separator: "\n", omittingEmptySubsequences: false) {
            let t = line.trimmingCharacters(in: .whitespaces)
            if current == nil, t == "```swift" {
                current = []
            } else if current != nil, t == "```" {
                blocks.append(current!)
                current = nil
            } else if current != nil {
                current!.append(String(line))
            }
        }
        return blocks
    }

    @Test func everySwiftSnippetIsPartOfTheCompiledExample() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let example = try String(contentsOf: Self.root.appendingPathComponent("Examples/SeedPipeline/main.swift"), encoding: .utf8)
        let programLines = example.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let blocks = Self.swiftBlocks(readme)
        #expect(!blocks.isEmpty, "the README shows the Swift API")
        for block in blocks {
            var position = 0
            for line in block.map({ $0.trimmingCharacters(in: .whitespaces) }) where !line.isEmpty {
                guard let found = programLines[position...].firstIndex(of: line) else {
                    Issue.record("README line not in Examples/SeedPipeline/main.swift (in order): \(line)")
                    break
                }
                position = found + 1
            }
        }
    }
}
