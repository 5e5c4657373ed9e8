import FragranceProtocol
import FragranceStore
import Foundation
import NIOCore
import NIOExtras
import NIOPosix
import Synchronization

/// The TCP listener of the line protocol: NIO event loops frame lines and write replies;
/// commands run on a thread pool, one at a time per connection, so replies keep request order
/// (pipelining) and storage work never blocks an event loop.
public final class LineServer: Sendable {
    public struct Configuration: Sendable {
        public var host = "127.0.0.1"
        public var port = 7700
        public var maxLineBytes = 16 << 20
        public var maxConnections = 1024
        public var idleTimeout: TimeAmount = .seconds(300)
        public var commandThreads = 2
        public init() {}
    }

    public let configuration: Configuration
    let router: CommandRouter
    let group: MultiThreadedEventLoopGroup
    let pool: NIOThreadPool
    let connections = Mutex(0)
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
            .childChannelInitializer { [self] ch in
                ch.eventLoop.makeCompletedFuture {
                    let sync = ch.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(readTimeout: config.idleTimeout))
                    try sync.addHandler(ByteToMessageHandler(LineBasedFrameDecoder(), maximumBufferSize: config.maxLineBytes))
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

/// One connection: decodes request lines and runs them on the thread pool in arrival order.
/// Lines that arrive while a batch runs wait and go together in the next one, so a pipelining
/// client pays one thread hop and one write per batch rather than per line. State is touched
/// only on the channel's event loop.
final class CommandHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let server: LineServer
    private var queued: [String] = []
    private let session = CommandRouter.Session()
    private var running = false
    private var closing = false

    init(server: LineServer) { self.server = server }

    func channelActive(context: ChannelHandlerContext) {
        let n = server.connections.withLock { $0 += 1; return $0 }
        server.router.metrics?.openTCPConnections.increment()
        if n > server.configuration.maxConnections {
            write(.error(code: "TOO_MANY_CONNECTIONS", message: "the server allows \(server.configuration.maxConnections) connections"), on: context.channel)
            context.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        server.connections.withLock { $0 -= 1 }
        server.router.metrics?.openTCPConnections.decrement()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var buffer = unwrapInboundIn(data)
        var line = buffer.readString(length: buffer.readableBytes) ?? ""
        if line.hasSuffix("\r") { line.removeLast() }
        guard line.utf8.contains(where: { $0 != 0x20 && $0 != 0x09 }) else { return }   // blank lines are ignored
        queued.append(line)
        if !running { runQueued(channel: context.channel, loop: context.eventLoop) }
    }

    private func runQueued(channel: Channel, loop: EventLoop) {
        running = true
        let batch = queued
        queued = []
        let router = server.router
        let session = self.session
        server.pool.runIfActive(eventLoop: loop) { () -> ([Reply], Bool) in
            var replies: [Reply] = []
            for line in batch {
                let (reply, close) = router.handle(line: line, session: session)
                replies.append(reply)
                if close { return (replies, true) }
            }
            return (replies, false)
        }.whenComplete { [self] result in
            switch result {
            case .success(let (replies, close)):
                var out = channel.allocator.buffer(capacity: 256 * replies.count)
                for r in replies { out.writeString(r.encoded) }
                channel.writeAndFlush(out, promise: nil)
                if close {
                    closing = true
                    channel.close(promise: nil)
                }
            case .failure(let error):
                write(.error(code: "INTERNAL", message: "\(error)"), on: channel)
            }
            running = false
            if !closing && !queued.isEmpty { runQueued(channel: channel, loop: loop) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if error is ByteToMessageDecoderError.PayloadTooLargeError {
            write(.error(code: "LINE_TOO_LONG", message: "a request line may hold at most \(server.configuration.maxLineBytes) bytes; closing"), on: context.channel)
        } else if !(error is ChannelError) {
            write(.error(code: "PROTOCOL", message: "\(error); closing"), on: context.channel)
        }
        context.close(promise: nil)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            write(.error(code: "IDLE", message: "no request for \(server.configuration.idleTimeout.nanoseconds / 1_000_000) ms; closing"), on: context.channel)
            context.close(promise: nil)
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
