import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Closes HTTP connections that hold a slot without finishing a request: a new connection
/// must send its request head within `header`, a body must arrive whole within `body` of its
/// head, and a keep-alive connection must start its next request within `idle` of the last
/// response. Hummingbird's own idle timer counts any byte as activity, so a client sending
/// one byte a second (slowloris) or a body shorter than its Content-Length kept its
/// connection, and 40 of them filled `http.max_connections` before any key was checked.
/// Sits after HTTP decoding; no timer runs while the server itself works on a request.
final class HTTPDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct Limits: Sendable {
        var header: TimeAmount
        var body: TimeAmount
        var idle: TimeAmount
    }

    let limits: Limits
    private var timer: Scheduled<Void>?
    /// Requests read whole and not yet answered, and whether one is being read (pipelining).
    private var unanswered = 0
    private var reading = false

    init(_ limits: Limits) { self.limits = limits }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, limits.header) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, limits.header)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { disarm() }

    func channelInactive(context: ChannelHandlerContext) {
        disarm()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            reading = true
            arm(context, limits.body)
        case .body: break
        case .end:
            reading = false
            unanswered += 1
            disarm()   // the server works on it now
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            unanswered = max(0, unanswered - 1)
            if unanswered == 0, !reading { arm(context, limits.idle) }
        }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext, _ after: TimeAmount) {
        timer?.cancel()
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: after) { bound.value.close(promise: nil) }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }
}
