import FragranceCore
import AsyncHTTPClient
import Foundation
import FragranceStore
import NIOCore
import NIOFoundationCompat

/// A chat client for the two wire formats local models speak: Ollama's `/api/chat` (NDJSON
/// streaming, `format` = a JSON schema) and the OpenAI-compatible `/v1/chat/completions`.
/// Every call has a deadline; a stall, an HTTP error or a malformed stream is an `LLMError`.
public final class LLMClient: Sendable {
    public enum API: String, Sendable { case ollama, openai }

    public struct Settings: Sendable, Equatable {
        public var baseURL: String
        public var api: API = .ollama
        public var model: String
        public var timeoutSeconds = 30.0
        public var maxTokens = 512
        public var temperature = 0.2
        /// The seed's roles (orchestrator, description interpreter, customer service) are named
        /// model settings: role -> model; a role without an entry uses `model`.
        public var roles: [String: String] = [:]
        public init(baseURL: String, model: String) {
            self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
            self.model = model
        }
    }

    public struct Message: Sendable {
        public var role: String
        public var content: String
        public init(_ role: String, _ content: String) {
            self.role = role
            self.content = content
        }
    }

    public enum LLMError: Error, CustomStringConvertible {
        case http(Int, String)
        case timeout(Double)
        case malformed(String)
        case unreachable(String)

        public var description: String {
            switch self {
            case .http(let s, let body): "the LLM answered HTTP \(s): \(body.prefix(200))"
            case .timeout(let s): "the LLM did not finish within \(s) s"
            case .malformed(let why): "the LLM's reply is malformed: \(why)"
            case .unreachable(let why): "the LLM is unreachable: \(why)"
            }
        }
    }

    public let settings: Settings
    let http: HTTPClient

    public init(settings: Settings, http: HTTPClient = .shared) {
        self.settings = settings
        self.http = http
    }

    /// The whole reply text of one chat turn. `schema` asks for JSON of that shape.
    public func chat(_ messages: [Message], schema: [String: Any]? = nil, role: String? = nil) async throws -> String {
        let deadline = NIODeadline.now() + .milliseconds(Int64(settings.timeoutSeconds * 1000))
        var body: [String: Any] = ["model": model(for: role), "messages": messages.map { ["role": $0.role, "content": $0.content] }]
        var request: HTTPClientRequest
        switch settings.api {
        case .ollama:
            request = HTTPClientRequest(url: settings.baseURL + "/api/chat")
            body["stream"] = true
            body["options"] = ["temperature": settings.temperature, "num_predict": settings.maxTokens]
            if let schema { body["format"] = schema }
        case .openai:
            request = HTTPClientRequest(url: settings.baseURL + "/v1/chat/completions")
            body["max_tokens"] = settings.maxTokens
            body["temperature"] = settings.temperature
            if schema != nil { body["response_format"] = ["type": "json_object"] }
        }
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: JSONWriter.text(body)))
        let response: HTTPClientResponse
        do { response = try await http.execute(request, deadline: deadline) }
        catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout { throw LLMError.timeout(settings.timeoutSeconds) }
        catch { throw LLMError.unreachable("\(error)") }
        do {
            guard response.status.code == 200 else {
                let text = (try? await response.body.collect(upTo: 64 << 10)).map { String(buffer: $0) } ?? ""
                throw LLMError.http(Int(response.status.code), text)
            }
            switch settings.api {
            case .ollama: return try await Self.readOllamaStream(response.body)
            case .openai:
                let buffer = try await response.body.collect(upTo: 8 << 20)
                guard let o = try? JSONSerialization.jsonObject(with: Data(buffer: buffer)) as? [String: Any],
                      let choices = o["choices"] as? [[String: Any]], let message = choices.first?["message"] as? [String: Any],
                      let content = message["content"] as? String else { throw LLMError.malformed("no choices[0].message.content") }
                return content
            }
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout {
            throw LLMError.timeout(settings.timeoutSeconds)
        }
    }

    /// The model a role is configured to use.
    public func model(for role: String?) -> String { role.flatMap { settings.roles[$0] } ?? settings.model }

    /// NDJSON chunks `{"message": {"content": …}, "done": false}` … `{"done": true}`.
    static func readOllamaStream(_ body: HTTPClientResponse.Body) async throws -> String {
        var pending = Data()
        var text = ""
        var done = false
        func consume(_ line: Data) throws {
            guard !line.allSatisfy({ $0 == 0x20 || $0 == 0x0D }) else { return }
            guard let o = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                throw LLMError.malformed("a stream line is not JSON: \(String(decoding: line.prefix(80), as: UTF8.self))")
            }
            if let e = o["error"] as? String { throw LLMError.malformed("the stream reports an error: \(e)") }
            if let m = o["message"] as? [String: Any], let c = m["content"] as? String { text += c }
            if o["done"] as? Bool == true { done = true }
        }
        for try await chunk in body {
            pending.append(contentsOf: chunk.readableBytesView)
            while let nl = pending.firstIndex(of: 0x0A) {
                try consume(pending[pending.startIndex..<nl])
                pending.removeSubrange(pending.startIndex...nl)
            }
            if done { break }
        }
        if !pending.isEmpty { try consume(pending) }
        guard done else { throw LLMError.malformed("the stream ended without a done object") }
        return text
    }

    /// Is the backend up? (`/api/tags` for Ollama, `/v1/models` for OpenAI-compatible servers.)
    public func healthy() async -> Bool {
        var request = HTTPClientRequest(url: settings.baseURL + (settings.api == .ollama ? "/api/tags" : "/v1/models"))
        request.method = .GET
        guard let r = try? await http.execute(request, timeout: .seconds(3)) else { return false }
        return r.status.code == 200
    }
}
