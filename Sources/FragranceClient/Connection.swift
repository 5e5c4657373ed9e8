import FragranceProtocol
import NIOCore
import NIOExtras
import NIOPosix

/// One TCP connection: requests are written in order and their promises queued; the reply
/// assembler fulfils them in the same order as replies complete.
final class Connection: Sendable {
    let channel: Channel
    let assembler: ReplyAssembler

    init(channel: Channel, assembler: ReplyAssembler) {
        self.channel = channel
        self.assembler = assembler
    }

    static func open(host: String, port: Int, group: EventLoopGroup) async throws -> Connection {
        let channel = try await ClientBootstrap(group: group)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineBasedFrameDecoder()))
                    try ch.pipeline.syncOperations.addHandler(ReplyAssembler())
                }
            }
            .connect(host: host, port: port).get()
        let assembler = try await channel.pipeline.handler(type: ReplyAssembler.self).get()
        return Connection(channel: channel, assembler: assembler)
    }

    func send(_ lines: [String], timeout: TimeAmount) async throws -> [Reply] {
        let loop = channel.eventLoop
        let promises = try await loop.submit { [channel, assembler] () -> [EventLoopPromise<Reply>] in
            var buffer = channel.allocator.buffer(capacity: lines.reduce(0) { $0 + $1.utf8.count + 2 })
            let promises = lines.map { _ in loop.makePromise(of: Reply.self) }
            for (line, p) in zip(lines, promises) {
                buffer.writeString(line)
                buffer.writeString("\r\n")
                assembler.expect(p)
            }
            channel.writeAndFlush(buffer, promise: nil)
            // A stuck request poisons the connection: fail everything and close it.
            let deadline = loop.scheduleTask(in: timeout) { assembler.failAll(FragranceClientError.timeout, closing: channel) }
            promises.last?.futureResult.whenComplete { _ in deadline.cancel() }
            return promises
        }.get()
        var out: [Reply] = []
        for p in promises { out.append(try await p.futureResult.get()) }
        return out
    }
}

/// Turns reply lines into `Reply` values: a status line, plus N lines after `*N`.
final class ReplyAssembler: ChannelInboundHandler, @unchecked Sendable {   // state only on its event loop
    typealias InboundIn = ByteBuffer

    private var waiting: [EventLoopPromise<Reply>] = []
    private var head = 0
    private var decoder = ReplyDecoder()

    func expect(_ p: EventLoopPromise<Reply>) { waiting.append(p) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        var line = buffer.readString(length: buffer.readableBytes) ?? ""
        if line.hasSuffix("\r") { line.removeLast() }
        do {
            if let reply = try decoder.feed(line) { complete(reply) }
        } catch {
            failAll(FragranceClientError.protocolViolation("unexpected line \(line.prefix(80))"), closing: context.channel)
        }
    }

    private func complete(_ reply: Reply) {
        guard head < waiting.count else { return }   // e.g. a server message before it closes
        let p = waiting[head]
        head += 1
        if head == waiting.count { waiting.removeAll(keepingCapacity: true); head = 0 }
        p.succeed(reply)
    }

    func failAll(_ error: Error, closing channel: Channel?) {
        let pending = waiting[head...]
        waiting = []
        head = 0
        for p in pending { p.fail(error) }
        channel?.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(FragranceClientError.disconnected, closing: nil)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        failAll(error, closing: context.channel)
    }
}
