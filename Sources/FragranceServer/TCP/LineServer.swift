import FragranceProtocol
import FragranceStore
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The TCP listener of the line protocol: NIO event loops frame lines and write replies;
/// commands run on a thread pool, one at a time per connection, so replies keep request order
/// (pipelining) and storage work never blocks an event loop.
///
/// What one client can hold is bounded: a partial line must complete within `lineTimeout`
/// and all connections' partial lines share `maxPendingLineBytes`; a connection stops being
/// read while `maxQueuedBytes` of its lines wait or its replies are not being read.
public final class LineServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 7700
        public var maxLineBytes = 16 << 20
        public var maxConnections = 1024
        public var idleTimeout: TimeAmount = .seconds(300)
        /// A request line must arrive whole within this long of its first byte.
        public var lineTimeout: TimeAmount = .seconds(60)
        /// Bytes of unfinished lines held for all connections together.
        public var maxPendingLineBytes = 64 << 20
        /// Bytes of received lines one connection may have waiting to run.
        public var maxQueuedBytes = 1 << 20
        /// Threads that run commands. More than the cores: two slow commands on two
        /// connections must not leave every other connection waiting.
        public var commandThreads = max(8, 2 * System.coreCount)
        public init() {}
    }

    public let configuration: Configuration
    let router: CommandRouter
    let group: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    let connections = Mutex(0)
    let pendingLineBytes = Atomic<Int>(0)
    let channel = Mutex<Channel?>(nil)

    public init(router: CommandRouter, configuration: Configuration = .init(), group: MultiThreadedEventLoopGroup? = nil) {
        self.router = router
        self.configuration = configuration
        self.group = group ?? MultiThreadedEventLoopGroup(numberOfThreads: 1)
        pool = NIOThreadPool(numberOfThreads: configuration.commandThreads)
    }

    /// Binds and starts accepting; returns the bound port (useful with port 0).
    @discardableResult
    public func start() throws -> Int {
        pool.start()
        let config = configuration
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)   // replies are small: no Nagle delay
            // A client that sends its lines and then shuts down its side still gets every reply.
            .childChannelOption(ChannelOptions.allowRemoteHalfClosure, value: true)
            .childChannelOption(ChannelOptions.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .childChannelInitializer { [self] ch in
                ch.eventLoop.makeCompletedFuture {
                    let sync = ch.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: config.idleTimeout))
                    try sync.addHandler(ByteToMessageHandler(LineFramer(server: self)))
                    try sync.addHandler(CommandHandler(server: self))
                }
            }
        let ch = try bootstrap.bind(host: config.host, port: config.port).wait()
        channel.withLock { $0 = ch }
        return ch.localAddress?.port ?? config.port
    }

    public func stop() {
        if let ch = channel.withLock({ $0 }) { try? ch.close().wait() }
        try? pool.syncShutdownGracefully()
    }
}

/// Why the framer closed a connection.
enum FramingError: Error {
    case lineTooLong(Int)
    case lineTimeout(TimeAmount)
    case serverBufferFull(Int)
}

/// Cuts request lines at LF. Keeps the bytes of an unfinished line counted in the server's
/// shared budget and on a clock, so neither many half-lines nor a 1 byte/s trickle can hold
/// memory or a connection for long.
final class LineFramer: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer
    let server: LineServer
    /// Bytes of the current partial line counted in the server's budget.
    private var held = 0
    /// How far the current partial line has been searched for LF (a trickle is not rescanned).
    private var scanned = 0
    private var deadline: Scheduled<Void>?

    init(server: LineServer) { self.server = server }

    func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        let view = buffer.readableBytesView
        if let lf = view[(view.startIndex + scanned)...].firstIndex(of: 0x0A) {
            let line = buffer.readSlice(length: lf - view.startIndex + 1)!
            scanned = 0
            context.fireChannelRead(wrapInboundOut(line))
            account(context, buffer.readableBytes)
            return .continue
        }
        scanned = buffer.readableBytes
        let config = server.configuration
        guard buffer.readableBytes <= config.maxLineBytes else { throw FramingError.lineTooLong(config.maxLineBytes) }
        account(context, buffer.readableBytes)
        return .needMoreData
    }

    /// Complete lines still run at end of input; a last line without LF does not: a client
    /// killed mid-write also ends its input, and half a DEL or UPSERT must not run.
    func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        scanned = 0
        account(context, 0)
        return .needMoreData
    }

    func decoderRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        server.pendingLineBytes.subtract(held, ordering: .relaxed)
        held = 0
    }

    private func account(_ context: ChannelHandlerContext, _ partial: Int) {
        let total = server.pendingLineBytes.add(partial - held, ordering: .relaxed).newValue
        held = partial
        if partial == 0 {
            deadline?.cancel()
            deadline = nil
            return
        }
        let config = server.configuration
        if total > config.maxPendingLineBytes {
            context.fireErrorCaught(FramingError.serverBufferFull(config.maxPendingLineBytes))
            return
        }
        if deadline == nil {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            deadline = context.eventLoop.scheduleTask(in: config.lineTimeout) {
                bound.value.fireErrorCaught(FramingError.lineTimeout(config.lineTimeout))
            }
        }
    }
}

/// One connection: decodes request lines and runs them on the thread pool in arrival order.
/// Lines that arrive while a batch runs wait and go together in the next one, so a pipelining
/// client pays one thread hop and one write per batch rather than per line. State is touched
/// only on the channel's event loop.
final class CommandHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Lines per batch: bounds the replies one batch can pile up before writability is
    /// looked at again.
    static let batchLines = 256
    /// Reply bytes after which a batch stops early (the rest of its lines run next time).
    static let batchReplyBytes = 1 << 20
    /// Commands that touch no storage, answered on the event loop when nothing of the
    /// connection's is waiting, so they never queue behind other connections' work.
    static let inline: Set<String> = ["PING", "HELP", "QUIT"]

    let server: LineServer
    private var queued: [String] = []
    private var queuedBytes = 0
    private let session = CommandRouter.Session()
    /// Failed authentications after which a connection is closed.
    static let maxAuthFailures = 3
    /// How long a failed authentication's reply is held back (on the event loop's clock: no
    /// thread waits), so one connection cannot try thousands of tokens a second.
    static let authFailureDelay: TimeAmount = .milliseconds(250)
    private var running = false
    private var closing = false
    /// The client has shut down its side: answer what came, then close.
    private var inputClosed = false
    private var readingPaused = false

    init(server: LineServer) { self.server = server }

    func channelActive(context: ChannelHandlerContext) {
        session.address = context.channel.remoteAddress?.ipAddress ?? "unknown"
        let port = context.channel.remoteAddress?.port.map { ":\($0)" } ?? ""
        session.clientId = server.router.service.activity.connected(address: session.address + port)
        let n = server.connections.withLock { $0 += 1; return $0 }
        server.router.metrics?.openTCPConnections.increment()
        if n > server.configuration.maxConnections {
            write(.error(.tooManyConnections, "the server allows \(server.configuration.maxConnections) connections"), on: context.channel)
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.connections.withLock { $0 -= 1 }
        if let id = session.clientId { server.router.service.activity.disconnected(id) }
        server.router.metrics?.openTCPConnections.decrement()
        closing = true
        queued = []
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var buffer = unwrapInboundIn(data)
        var length = buffer.readableBytes
        for end in [UInt8(0x0A), 0x0D] where length > 0 && buffer.getInteger(at: buffer.readerIndex + length - 1, as: UInt8.self) == end {
            length -= 1
        }
        let line = buffer.readString(length: length) ?? ""
        guard line.utf8.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { return }   // blank lines are ignored
        if !running, queued.isEmpty, context.channel.isWritable, line.utf8.count <= 64, let word = line.split(separator: " ", maxSplits: 1).first,
           Self.inline.contains(word.uppercased()) {
            let (reply, close) = server.router.handle(line: line, session: session)
            write(reply, on: context.channel)
            if close { closeAfterReplies(context.channel) }
            return
        }
        queued.append(line)
        queuedBytes += line.utf8.count
        if queuedBytes > server.configuration.maxQueuedBytes { pauseReading(context.channel) }
        if !running { runQueued(channel: context.channel, loop: context.eventLoop) }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, !running, !queued.isEmpty, !closing {
            runQueued(channel: context.channel, loop: context.eventLoop)
        } else if context.channel.isWritable {
            resumeReadingIfDrained(context.channel)
        }
        context.fireChannelWritabilityChanged()
    }

    private func pauseReading(_ channel: Channel) {
        guard !readingPaused else { return }
        readingPaused = true
        channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
    }

    private func resumeReadingIfDrained(_ channel: Channel) {
        guard readingPaused, !closing, queuedBytes <= server.configuration.maxQueuedBytes / 2, channel.isWritable else { return }
        readingPaused = false
        channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
    }

    private func runQueued(channel: Channel, loop: EventLoop) {
        running = true
        let batch = Array(queued.prefix(Self.batchLines))
        queued.removeFirst(batch.count)
        queuedBytes -= batch.reduce(0) { $0 + $1.utf8.count }
        let router = server.router
        let session = self.session
        let failuresBefore = session.authFailures
        let allocator = channel.allocator
        // Replies are encoded here too, not on the event loop that every connection shares:
        // a batch of large SEARCH replies once held up everyone's PING for half a second.
        server.pool.runIfActive(eventLoop: loop) { () -> (ByteBuffer, Bool, Int) in
            var out = allocator.buffer(capacity: 256 * batch.count)
            var i = 0
            while i < batch.count {
                let reads = Self.concurrentReads(batch, from: i)
                if reads.count > 1 {
                    for reply in Self.runConcurrently(batch[reads], router: router, session: session) { out.writeString(reply) }
                    i = reads.upperBound
                } else {
                    let (reply, close) = router.handle(line: batch[i], session: session)
                    out.writeString(reply.encoded)
                    i += 1
                    if close { return (out, true, i) }
                    if session.authFailures >= Self.maxAuthFailures {
                        out.writeString(Reply.error(.wrongPassword, "\(Self.maxAuthFailures) failed authentications on this connection; closing").encoded)
                        return (out, true, i)
                    }
                }
                // Enough to write for now: the rest waits until the client reads this.
                if out.readableBytes >= Self.batchReplyBytes { return (out, false, i) }
            }
            return (out, false, batch.count)
        }.flatMap { [self] result -> EventLoopFuture<(ByteBuffer, Bool, Int)> in
            // Hold back the replies of a batch with a failed authentication.
            guard session.authFailures > failuresBefore else { return loop.makeSucceededFuture(result) }
            return loop.scheduleTask(in: Self.authFailureDelay) { result }.futureResult
        }.whenComplete { [self] result in
            running = false
            switch result {
            case .success(let (out, close, ran)):
                if ran < batch.count, !close {   // back to the front of the queue, in order
                    let rest = batch[ran...]
                    queued.insert(contentsOf: rest, at: 0)
                    queuedBytes += rest.reduce(0) { $0 + $1.utf8.count }
                }
                channel.writeAndFlush(out, promise: nil)
                if close { closeAfterReplies(channel); return }
            case .failure(let error):
                write(.error(.internalError, "\(error)"), on: channel)
            }
            guard !closing else { return }
            // Replies not being read: wait for channelWritabilityChanged before running more.
            if !queued.isEmpty, channel.isWritable { runQueued(channel: channel, loop: loop); return }
            resumeReadingIfDrained(channel)
            if queued.isEmpty, inputClosed { closeAfterReplies(channel) }
        }
    }

    /// Reads that may run side by side: they change nothing, not even the session (AUTH and
    /// HELLO do), and each answers on its own (MSEARCH already spreads over the cores).
    static let concurrentCommands: Set<String> = ["SEARCH", "QUERY", "GET", "EXISTS", "COUNT", "FACETS"]
    /// Most lines one concurrent run takes, so a batch still stops early on reply bytes.
    static let concurrentRunLines = 64

    /// The run of pipelined lines from `start` that are all concurrent reads (empty or one
    /// line: run it alone).
    static func concurrentReads(_ batch: [String], from start: Int) -> Range<Int> {
        guard System.coreCount > 1 else { return start..<start }
        var end = start
        while end < batch.count, end - start < concurrentRunLines, concurrentCommands.contains(commandWord(batch[end])) { end += 1 }
        return start..<end
    }

    static func commandWord(_ line: String) -> String {
        line.drop { $0 == " " || $0 == "\t" }.prefix { $0 != " " && $0 != "\t" }.uppercased()
    }

    /// A pipelining client's consecutive reads answered on all cores (issue #23: 64 pipelined
    /// SEARCH lines on one connection used one core), each reply encoded by its worker, in
    /// request order. Nothing between them could have changed what they see: any write on
    /// this connection ends the run.
    static func runConcurrently(_ lines: ArraySlice<String>, router: CommandRouter, session: CommandRouter.Session) -> [String] {
        let base = lines.startIndex
        let replies = Mutex([String](repeating: "", count: lines.count))
        let workers = min(lines.count, System.coreCount)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for j in stride(from: w, to: lines.count, by: workers) {
                let encoded = router.handle(line: lines[base + j], session: session).reply.encoded
                replies.withLock { $0[j] = encoded }
            }
        }
        return replies.withLock { $0 }
    }

    /// Closes once what was written has gone out.
    private func closeAfterReplies(_ channel: Channel) {
        closing = true
        queued = []
        channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in channel.close(promise: nil) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        switch error {
        case FramingError.lineTooLong(let max):
            write(.error(.lineTooLong, "a request line may hold at most \(max) bytes; closing"), on: context.channel)
        case FramingError.lineTimeout(let t):
            write(.error(.timeout, "a request line must arrive whole within \(t.nanoseconds / 1_000_000) ms; closing"), on: context.channel)
        case FramingError.serverBufferFull(let total):
            write(.error(.busy, "the server holds \(total) bytes of unfinished lines for all connections; closing this one"), on: context.channel)
        case is ChannelError:
            break
        default:
            write(.error(.protocolViolation, "\(error); closing"), on: context.channel)
        }
        closing = true
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            guard !running, queued.isEmpty else { return }   // a long command is not idleness
            write(.error(.idle, "no request for \(server.configuration.idleTimeout.nanoseconds / 1_000_000) ms; closing"), on: context.channel)
            closing = true
            context.close(promise: nil)
        } else if case ChannelEvent.inputClosed = event {
            inputClosed = true
            if !running, queued.isEmpty { closeAfterReplies(context.channel) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    private func write(_ reply: Reply, on channel: Channel) {
        var out = channel.allocator.buffer(capacity: 64)
        out.writeString(reply.encoded)
        channel.writeAndFlush(out, promise: nil)
    }
}
