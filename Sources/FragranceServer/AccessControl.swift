import Crypto
import FragranceProtocol
import Foundation
import JWTKit
import Synchronization

/// An API key as the server keeps it: the SHA-256 of the secret, never the secret itself.
public struct APIKey: Sendable, Equatable {
    public var name: String
    public var role: Role
    public var sha256: String

    public init(name: String, role: Role, sha256: String) {
        self.name = name
        self.role = role
        self.sha256 = sha256.lowercased()
    }

    public init(name: String, role: Role, secret: String) {
        self.init(name: name, role: role, sha256: APIKey.hash(secret))
    }

    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

/// Who a request or a connection turned out to be.
public struct Principal: Sendable, Equatable {
    /// The key's name or the token's subject: safe to log, unlike the secret.
    public var name: String
    public var role: Role
}

/// The claims a signed token (HS256) must carry: a role, and optionally a subject and expiry.
struct RoleClaims: JWTPayload {
    var sub: SubjectClaim?
    var exp: ExpirationClaim?
    var role: String
    var nbf: NotBeforeClaim? = nil

    func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp?.verifyNotExpired()
        try nbf?.verifyNotBefore()
        guard Role(name: role) != nil else { throw JWTError.claimVerificationFailure(failedClaim: nil, reason: "unknown role '\(role)'") }
    }
}

/// Checks bearer tokens: API keys (looked up by hash) and HS256 JWTs. With neither configured
/// the server is open and every caller is admin; `ServerConfiguration` then only allows a
/// loopback bind. Keys and the JWT secret can be replaced while running (SIGHUP).
public final class AccessControl: Sendable {
    struct State {
        var keys: [String: APIKey] = [:]   // by sha256
        /// One collection per accepted algorithm (HS256, ES256), each holding its key as default.
        var jwt: [JWTKeyCollection] = []
        /// Accept signed tokens without `exp` (valid forever); off unless configured.
        var allowNoExpiry = false
    }
    private let state = Mutex(State())
    /// Failed authentications by client address, shared by both protocols.
    public let failures = FailureThrottle()

    public init(keys: [APIKey] = [], jwtSecret: String? = nil, jwtPublicKey: String? = nil, allowTokensWithoutExpiry: Bool = false) async throws {
        try await replace(keys: keys, jwtSecret: jwtSecret, jwtPublicKey: jwtPublicKey, allowTokensWithoutExpiry: allowTokensWithoutExpiry)
    }

    /// - Parameter jwtPublicKey: a PEM ES256 (P-256) public key; tokens signed with its private
    ///   key are accepted beside HS256 ones.
    public func replace(keys: [APIKey], jwtSecret: String?, jwtPublicKey: String? = nil, allowTokensWithoutExpiry: Bool = false) async throws {
        var jwt: [JWTKeyCollection] = []
        if let jwtSecret, !jwtSecret.isEmpty {
            let hs = JWTKeyCollection()
            await hs.add(hmac: HMACKey(from: jwtSecret), digestAlgorithm: .sha256)
            jwt.append(hs)
        }
        if let jwtPublicKey {
            let es = JWTKeyCollection()
            do { await es.add(ecdsa: try ES256PublicKey(pem: jwtPublicKey)) }
            catch { throw ServerConfiguration.Invalid("auth.jwt_public_key is not a PEM P-256 (ES256) public key") }
            jwt.append(es)
        }
        let byHash = Dictionary(keys.map { ($0.sha256, $0) }, uniquingKeysWith: { a, _ in a })
        state.withLock { $0 = State(keys: byHash, jwt: jwt, allowNoExpiry: allowTokensWithoutExpiry) }
    }

    /// True when no key and no JWT secret is configured.
    public var isOpen: Bool { state.withLock { $0.keys.isEmpty && $0.jwt.isEmpty } }

    public var keyCount: Int { state.withLock { $0.keys.count } }

    /// The principal for a bearer token, or nil when it is neither a known key nor a valid token.
    public func authenticate(_ token: String) async -> Principal? {
        let (key, jwt, allowNoExpiry) = state.withLock { ($0.keys[APIKey.hash(token)], $0.jwt, $0.allowNoExpiry) }
        if let key { return Principal(name: key.name, role: key.role) }
        guard !jwt.isEmpty, token.split(separator: ".").count == 3 else { return nil }
        var claims: RoleClaims?
        for collection in jwt where claims == nil { claims = try? await collection.verify(token, as: RoleClaims.self) }
        guard let claims, let role = Role(name: claims.role), claims.exp != nil || allowNoExpiry else { return nil }
        return Principal(name: claims.sub?.value ?? "jwt", role: role)
    }

    /// For the line protocol (see `waitBlocking`).
    public func authenticateBlocking(_ token: String) -> Principal? {
        let (key, hasJWT) = state.withLock { ($0.keys[APIKey.hash(token)], !$0.jwt.isEmpty) }
        if let key { return Principal(name: key.name, role: key.role) }
        guard hasJWT else { return nil }
        return waitBlocking { await self.authenticate(token) }
    }
}

/// Slows guessing: each client address may fail authentication `burst` times, then once per
/// `1/rate` seconds (a token bucket of failures). While it is over, its attempts are refused
/// before any token is checked, on TCP and HTTP alike.
public final class FailureThrottle: Sendable {
    public let burst: Double
    public let rate: Double   // failures forgiven per second
    private struct Bucket { var tokens: Double; var at: Double }
    private let buckets = Mutex<[String: Bucket]>([:])

    public init(burst: Int = 10, perMinute: Int = 10) {
        self.burst = Double(burst)
        rate = Double(perMinute) / 60
    }

    private static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Seconds until `address` may try again; nil when it may try now.
    public func wait(_ address: String) -> Double? {
        buckets.withLock { b in
            guard let bucket = b[address] else { return nil }
            let tokens = min(burst, bucket.tokens + (Self.now() - bucket.at) * rate)
            return tokens >= 1 ? nil : (1 - tokens) / rate
        }
    }

    /// Records a failed attempt from `address`.
    public func failed(_ address: String) {
        let t = Self.now()
        buckets.withLock { b in
            var bucket = b[address] ?? Bucket(tokens: burst, at: t)
            bucket.tokens = max(0, min(burst, bucket.tokens + (t - bucket.at) * rate) - 1)
            bucket.at = t
            b[address] = bucket
            // Forget addresses whose buckets have refilled, so the table cannot grow without bound.
            if b.count > 10_000 {
                b = b.filter { min(burst, $0.value.tokens + (t - $0.value.at) * rate) < burst }
            }
        }
    }
}
