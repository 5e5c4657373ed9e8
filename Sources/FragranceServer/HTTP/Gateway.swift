import FragranceProtocol
import Foundation
import Hummingbird

// In front of the HTTP router: CORS, rate limits and bearer tokens, before any route runs.

/// Which origins may call the API from a browser. Empty: CORS off (no headers sent).
struct CORSPolicy: Sendable {
    var origins: [String]
    func allows(_ origin: String) -> Bool { origins.contains("*") || origins.contains(origin) }
}

/// The HTTP stack in front of the router, outermost first: CORS, the per-address rate limit,
/// bearer tokens (401 for a bad one; the route checks the role), the per-key rate limit, and
/// the API's error shape for what the router throws or does not route. One small responder
/// per concern (Hummingbird's middleware shape), each passing the request on or answering.
enum Gateway {
    static func wrap<Inner: HTTPResponder>(_ router: Inner, api: HTTPAPI, cors: CORSPolicy) -> some HTTPResponder<APIContext>
    where Inner.Context == APIContext {
        // rate_limit.per_key counts once the key is known; rate_limit.per_address before anything is read.
        let perKey = RateLimit(inner: RouteErrors(inner: router, api: api), api: api, limiter: api.perKey, scope: "key") { ctx in
            ctx.principal.map { ($0.name, "key '\($0.name)'") }
        }
        let perAddress = RateLimit(inner: BearerAuth(inner: perKey, api: api), api: api, limiter: api.perAddress, scope: "address") { ctx in
            (ctx.remoteAddress, "this address")
        }
        return CORS(inner: perAddress, policy: cors)
    }

    /// A refusal before any route ran: counted under the "(gateway)" route.
    static func refuse(_ e: APIError, _ request: Request, _ api: HTTPAPI, since start: UInt64) -> Response {
        api.metrics.httpRequest(route: "(gateway)", method: request.method.rawValue, status: Int(e.status.code),
                                nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
        return e.response()
    }

    static func tooMany(_ wait: Double, _ who: String) -> APIError {
        let seconds = max(1, Int(wait.rounded(.up)))
        var e = APIError(.rateLimited, "too many requests from \(who); retry in \(seconds) s")
        e.headers[.retryAfter] = String(seconds)
        return e
    }

    /// Answers preflights for allowed origins and marks every reply to them.
    struct CORS<Inner: HTTPResponder>: HTTPResponder where Inner.Context == APIContext {
        let inner: Inner
        let policy: CORSPolicy
        func respond(to request: Request, context: APIContext) async throws -> Response {
            let origin = request.headers[.origin].flatMap { policy.allows($0) ? $0 : nil }
            var response: Response
            if request.method == .options, origin != nil, request.headers[.accessControlRequestMethod] != nil {
                var h = HTTPFields()
                h[.accessControlAllowMethods] = "GET, POST, DELETE, OPTIONS"
                h[.accessControlAllowHeaders] = "Authorization, Content-Type"
                h[.accessControlMaxAge] = "600"
                response = Response(status: .noContent, headers: h)
            } else {
                response = try await inner.respond(to: request, context: context)
            }
            if let origin {
                response.headers[.accessControlAllowOrigin] = policy.origins.contains("*") ? "*" : origin
                response.headers[.vary] = "Origin"
            }
            return response
        }
    }

    /// A token bucket per caller: 429 with Retry-After. `caller` names whom the bucket is for
    /// (nil: not limited here) and how the refusal says it.
    struct RateLimit<Inner: HTTPResponder>: HTTPResponder where Inner.Context == APIContext {
        let inner: Inner
        let api: HTTPAPI
        let limiter: RateLimiter
        let scope: String
        let caller: @Sendable (APIContext) -> (key: String, who: String)?
        func respond(to request: Request, context: APIContext) async throws -> Response {
            if let c = caller(context), let wait = limiter.acquire(c.key) {
                api.metrics.rateLimited(scope)
                return refuse(tooMany(wait, c.who), request, api, since: DispatchTime.now().uptimeNanoseconds)
            }
            return try await inner.respond(to: request, context: context)
        }
    }

    /// `Authorization: Bearer <key or JWT>` → the request's principal. A bad token is 401 after
    /// 250 ms (slows guessing; no thread waits), and repeated failures throttle the address.
    struct BearerAuth<Inner: HTTPResponder>: HTTPResponder where Inner.Context == APIContext {
        let inner: Inner
        let api: HTTPAPI
        func respond(to request: Request, context: APIContext) async throws -> Response {
            guard let header = request.headers[.authorization] else { return try await inner.respond(to: request, context: context) }
            let start = DispatchTime.now().uptimeNanoseconds
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                return refuse(APIError(.notAuthenticated, "the Authorization header must be 'Bearer <token>'"), request, api, since: start)
            }
            guard let access = api.access else { return refuse(APIError(.badRequest, "this server has no authentication"), request, api, since: start) }
            if let wait = access.failures.wait(context.remoteAddress) {
                api.metrics.rateLimited("auth_failures")
                return refuse(tooMany(wait, "this address after failed authentications"), request, api, since: start)
            }
            guard let p = await access.authenticate(String(parts[1])) else {
                api.metrics.authFailure("http")
                access.failures.failed(context.remoteAddress)
                try? await Task.sleep(for: .milliseconds(250))
                var e = APIError(.wrongPassword, "invalid API key or token")
                e.headers[.wwwAuthenticate] = "Bearer error=\"invalid_token\""
                return refuse(e, request, api, since: start)
            }
            var context = context
            context.principal = p
            return try await inner.respond(to: request, context: context)
        }
    }

    /// The API's error shape for errors the router throws and for paths it does not route.
    struct RouteErrors<Inner: HTTPResponder>: HTTPResponder where Inner.Context == APIContext {
        let inner: Inner
        let api: HTTPAPI
        func respond(to request: Request, context: APIContext) async throws -> Response {
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                let response = try await inner.respond(to: request, context: context)
                // The router's own "no route" answer has an empty body.
                if response.status == .notFound, response.headers[.contentLength] == "0" {
                    return refuse(APIError(.notFound, "no route for \(request.method.rawValue) \(request.uri.path); see /docs"), request, api, since: start)
                }
                return response
            } catch {
                return refuse(APIError.from(error, service: api.service), request, api, since: start)
            }
        }
    }
}
