import QuantKit

/// libFuzzer entry point: the bytes are a candidate `.tflite` file. Reading must throw or give
/// a valid graph; a valid graph must prepare and run one all-zero sample, or throw. Anything
/// else — a trap, a sanitizer report, a hang, unbounded memory — is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTFLite(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = [UInt8](UnsafeBufferPointer(start: data, count: size))
    guard let graph = try? TFLiteFile.read(bytes: bytes) else { return 0 }
    exerciseInterpreter(graph)
    return 0
}

/// Prepares an interpreter for `graph` and runs one zero sample, within a work budget so that a
/// legitimately huge (but valid) model does not read as a hang.
func exerciseInterpreter(_ graph: Graph) {
    guard withinBudget(graph),
          let interpreter = try? Interpreter(graph: graph, options: InterpreterOptions(batchCapacity: 1)) else { return }
    let inputs = interpreter.inputTensors.map { [UInt8](repeating: 0, count: $0.byteCount) }
    var outputs = interpreter.outputTensors.map { [UInt8](repeating: 0, count: $0.byteCount) }
    withBuffers(inputs, &outputs) { ins, outs in
        _ = try? interpreter.run(inputs: ins, count: 1, outputs: outs)
    }
    // Intermediates on request must also be safe to read.
    if let traced = try? Interpreter(graph: graph, options: InterpreterOptions(batchCapacity: 1, preservesIntermediates: true)) {
        withBuffers(inputs, &outputs) { ins, outs in _ = try? traced.run(inputs: ins, count: 1, outputs: outs) }
        for i in graph.tensors.indices { _ = try? traced.intermediate(i) }
    }
}

/// At most 16 Mi elements in any tensor and about 10^8 multiply-adds per sample.
func withinBudget(_ graph: Graph) -> Bool {
    var macs = 0
    for tensor in graph.tensors {
        guard let n = tensor.elementCount, n <= 1 << 24 else { return false }
    }
    for op in graph.operators {
        let out = op.outputs.first.flatMap { $0 >= 0 && $0 < graph.tensors.count ? graph.tensors[$0].elementCount : nil } ?? 0
        let filter = op.inputs.count > 1 && op.inputs[1] >= 0 && op.inputs[1] < graph.tensors.count
            ? graph.tensors[op.inputs[1]].shape : []
        switch op.kind {
        case .conv2D, .fullyConnected:
            macs += out * max(1, filter.dropFirst().reduce(1, *))
        case .depthwiseConv2D, .maxPool2D, .averagePool2D:
            macs += out * 64
        default:
            macs += out
        }
        if macs > 100_000_000 { return false }
    }
    return true
}

private func withBuffers(_ inputs: [[UInt8]], _ outputs: inout [[UInt8]],
                         _ body: ([UnsafeRawBufferPointer], [UnsafeMutableRawBufferPointer]) -> Void) {
    var ins = [UnsafeRawBufferPointer]()
    var outs = [UnsafeMutableRawBufferPointer]()
    let inputCopies = inputs.map { bytes -> UnsafeMutableRawBufferPointer in
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        p.initializeMemory(as: UInt8.self, repeating: 0)
        return UnsafeMutableRawBufferPointer(rebasing: p[0..<bytes.count])
    }
    let outputCopies = outputs.map { bytes -> UnsafeMutableRawBufferPointer in
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 16)
        p.initializeMemory(as: UInt8.self, repeating: 0)
        return UnsafeMutableRawBufferPointer(rebasing: p[0..<bytes.count])
    }
    defer {
        for p in inputCopies { p.baseAddress.map { UnsafeMutableRawPointer($0).deallocate() } }
        for p in outputCopies { p.baseAddress.map { UnsafeMutableRawPointer($0).deallocate() } }
    }
    ins = inputCopies.map { UnsafeRawBufferPointer($0) }
    outs = outputCopies
    body(ins, outs)
}

/// libFuzzer's driver (compiler-rt), called from our entry point.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

/// SwiftPM links an executable target's entry point as `<Target>_main` (and points `main` at
/// it), so libFuzzer's own `main` is never pulled in: start its driver from here.
@_cdecl("FuzzTFLite_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzzTFLite(data, size) }
}
