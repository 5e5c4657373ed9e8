import FragranceProtocol
import Foundation
import Hummingbird

// In front of the HTTP router: CORS, rate limits and bearer tokens, before any route runs.

/// Which origins may call the API from a browser. Empty: CORS off (no headers sent).
struct CORSPolicy: Sendable {
    var origins: [String]
    func allows(_ origin: String) -> Bool { origins.contains("*") || origins.contains(origin) }
}

/// In front of the router: CORS, per-address rate limits, bearer tokens (401 for a bad one,
/// the route checks the role), per-key rate limits, and JSON errors for unknown routes.
struct GatewayResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == APIContext {
    let inner: Inner
    let api: HTTPAPI
    let cors: CORSPolicy

    func respond(to request: Request, context: APIContext) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let origin = request.headers[.origin].flatMap { cors.allows($0) ? $0 : nil }
        var response = await gated(request, context, origin: origin, start: start)
        if let origin {
            response.headers[.accessControlAllowOrigin] = cors.origins.contains("*") ? "*" : origin
            response.headers[.vary] = "Origin"
        }
        return response
    }

    private func gated(_ request: Request, _ context: APIContext, origin: String?, start: UInt64) async -> Response {
        func fail(_ e: APIError) -> Response {
            api.metrics.httpRequest(route: "(gateway)", method: request.method.rawValue, status: Int(e.status.code),
                                    nanoseconds: DispatchTime.now().uptimeNanoseconds - start)
            return e.response()
        }
        if request.method == .options, origin != nil, request.headers[.accessControlRequestMethod] != nil {
            var h = HTTPFields()
            h[.accessControlAllowMethods] = "GET, POST, DELETE, OPTIONS"
            h[.accessControlAllowHeaders] = "Authorization, Content-Type"
            h[.accessControlMaxAge] = "600"
            return Response(status: .noContent, headers: h)
        }
        var context = context
        if let wait = api.perAddress.acquire(context.remoteAddress) {
            api.metrics.rateLimited("address")
            return fail(Self.tooMany(wait, "this address"))
        }
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                return fail(APIError(.notAuthenticated, "the Authorization header must be 'Bearer <token>'"))
            }
            guard let access = api.access else { return fail(APIError(.badRequest, "this server has no authentication")) }
            if let wait = access.failures.wait(context.remoteAddress) {
                api.metrics.rateLimited("auth_failures")
                return fail(Self.tooMany(wait, "this address after failed authentications"))
            }
            guard let p = await access.authenticate(String(parts[1])) else {
                api.metrics.authFailure("http")
                access.failures.failed(context.remoteAddress)
                try? await Task.sleep(for: .milliseconds(250))   // slows guessing; no thread waits
                var e = APIError(.wrongPassword, "invalid API key or token")
                e.headers[.wwwAuthenticate] = "Bearer error=\"invalid_token\""
                return fail(e)
            }
            context.principal = p
            if let wait = api.perKey.acquire(p.name) {
                api.metrics.rateLimited("key")
                return fail(Self.tooMany(wait, "key '\(p.name)'"))
            }
        }
        do {
            let response = try await inner.respond(to: request, context: context)
            // The router's own "no route" answer has an empty body: give it the API's error shape.
            if response.status == .notFound, response.headers[.contentLength] == "0" {
                return fail(APIError(.notFound, "no route for \(request.method.rawValue) \(request.uri.path); see /docs"))
            }
            return response
        } catch {
            return fail(APIError.from(error, service: api.service))
        }
    }

    static func tooMany(_ wait: Double, _ who: String) -> APIError {
        let seconds = max(1, Int(wait.rounded(.up)))
        var e = APIError(.rateLimited, "too many requests from \(who); retry in \(seconds) s")
        e.headers[.retryAfter] = String(seconds)
        return e
    }
}
