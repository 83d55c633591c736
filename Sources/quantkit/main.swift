import QuantKit
import Foundation
let train = try FashionMNIST.load(.train)
let (tr, val) = train.split(validationCount: 5000)
let model = seedCNN()
model.compile()
let limit = Int(CommandLine.arguments.dropFirst().first ?? "55000")!
let h = try model.fit(tr.prefix(limit), epochs: 1, batchSize: 64, validation: val, verbose: .epochLines)
