import FragranceProtocol
import NIOCore
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
                ch.eventLoop.makeCompletedFuture { try ch.pipeline.syncOperations.addHandler(ReplyAssembler()) }
            }
            .connect(host: host, port: port).get()
        let assembler = try await channel.pipeline.handler(type: ReplyAssembler.self).get()
        return Connection(channel: channel, assembler: assembler)
    }

    /// Writes the lines in one flush and waits once for all their replies (one promise per
    /// batch: awaiting 64 futures one by one cost more than reading the replies).
    func send(_ lines: [String], timeout: TimeAmount) async throws -> [Reply] {
        guard !lines.isEmpty else { return [] }
        let loop = channel.eventLoop
        let promise = loop.makePromise(of: [Reply].self)
        loop.execute { [channel, assembler] in
            var buffer = channel.allocator.buffer(capacity: lines.reduce(0) { $0 + $1.utf8.count + 2 })
            for line in lines {
                buffer.writeString(line)
                buffer.writeString("\r\n")
            }
            assembler.expect(lines.count, promise)
            channel.writeAndFlush(buffer, promise: nil)
            // A stuck request poisons the connection: fail everything and close it.
            let deadline = loop.scheduleTask(in: timeout) { assembler.failAll(FragranceClientError.timeout, closing: channel) }
            promise.futureResult.whenComplete { _ in deadline.cancel() }
        }
        return try await promise.futureResult.get()
    }
}

/// Splits the byte stream into lines and lines into `Reply` values (a status line, plus N lines
/// after `*N`), and completes each batch's promise once its last reply is in.
final class ReplyAssembler: ChannelInboundHandler, @unchecked Sendable {   // state only on its event loop
    typealias InboundIn = ByteBuffer

    /// A line longer than this is a broken server, not a reply (the server's own limit is 16 MiB).
    static let maxLineBytes = 256 << 20

    private struct Batch {
        var promise: EventLoopPromise<[Reply]>
        var expected: Int
        var replies: [Reply] = []
    }

    private var waiting: [Batch] = []
    private var head = 0
    private var decoder = ReplyDecoder()
    /// The start of a line whose end has not arrived yet (searched already: no newline in it).
    private var partial: ByteBuffer?

    func expect(_ count: Int, _ p: EventLoopPromise<[Reply]>) {
        var b = Batch(promise: p, expected: count)
        b.replies.reserveCapacity(count)
        waiting.append(b)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        // Bytes already searched for a newline: a long line arriving in many reads is scanned
        // once, not once per read.
        var searched = 0
        if var p = partial {
            searched = p.readableBytes
            p.writeBuffer(&buffer)
            buffer = p
            partial = nil
        }
        while let newline = buffer.readableBytesView.dropFirst(searched).firstIndex(of: UInt8(ascii: "\n")) {
            searched = 0
            let length = newline - buffer.readerIndex
            var end = length
            if end > 0, buffer.getInteger(at: buffer.readerIndex + end - 1, as: UInt8.self) == UInt8(ascii: "\r") { end -= 1 }
            let line = buffer.getString(at: buffer.readerIndex, length: end) ?? ""
            buffer.moveReaderIndex(forwardBy: length + 1)
            do {
                if let reply = try decoder.feed(line) { complete(reply) }
            } catch {
                failAll(FragranceClientError.protocolViolation("unexpected line \(line.prefix(80))"), closing: context.channel)
                return
            }
        }
        guard buffer.readableBytes > 0 else { return }
        guard buffer.readableBytes <= Self.maxLineBytes else {
            failAll(FragranceClientError.protocolViolation("a reply line over \(Self.maxLineBytes) bytes"), closing: context.channel)
            return
        }
        buffer.discardReadBytes()
        partial = buffer
    }

    private func complete(_ reply: Reply) {
        guard head < waiting.count else { return }   // e.g. a server message before it closes
        waiting[head].replies.append(reply)
        guard waiting[head].replies.count == waiting[head].expected else { return }
        let done = waiting[head]
        head += 1
        if head == waiting.count { waiting.removeAll(keepingCapacity: true); head = 0 }
        done.promise.succeed(done.replies)
    }

    func failAll(_ error: Error, closing channel: Channel?) {
        let pending = waiting[head...]
        waiting = []
        head = 0
        partial = nil
        for b in pending { b.promise.fail(error) }
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
