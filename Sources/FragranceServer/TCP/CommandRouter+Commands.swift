import FragranceProtocol
import FragranceStore
import Foundation
import Perfumery
import RAG

// The command bodies with more than a line of decoding: CREATE, ALTER, UPSERT, SEARCH, QUERY, GENERATE.
extension CommandRouter {
    func create(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        let o = try jsonObject(args.dropFirst(), "CREATE needs a JSON object after the name, e.g. {\"dimension\": 384}")
        _ = try service.createCollection(name: name, definition: o)
        return .ok("created \(name)")
    }

    func alter(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        let o = try jsonObject(args.dropFirst(), "ALTER needs a JSON object after the name, e.g. {\"fields\": [{\"name\": \"price\", \"type\": \"float\"}]}")
        return .lines([ReplyJSON.text(try service.alterCollection(name, change: o))])
    }

    func upsert(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        guard let json = args.dropFirst().first, case .json(let text) = json else {
            throw ProtocolError(.syntax, "UPSERT needs a JSON record or array after the collection name")
        }
        let w = try service.upsert(name, try Record.decodeList(json: text))
        return .ok("inserted=\(w.inserted) updated=\(w.updated)")
    }

    func search(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        let o = try SearchOptions(args.dropFirst(), allowed: ["TEXT", "VECTOR", "FILTER", "K", "EF", "EXACT", "EXPLAIN"])
        guard o.text != nil || o.vector != nil else { throw ProtocolError(.syntax, "SEARCH needs TEXT \"…\" or VECTOR [..]") }
        var input = SearchInput(collection: name)
        input.text = o.text
        input.vector = o.vector
        input.filter = FilterInput(text: o.filter)
        input.k = o.k
        input.ef = o.ef
        input.exact = o.exact
        input.explain = o.explain
        let result = try service.search(input)
        // Written by hand: this is the hot path of every search reply.
        var lines = result.hits.map { "{\"distance\":\($0.distance),\"id\":\(jsonString($0.id)),\"score\":\($0.score)}" }
        if let plan = result.plan {
            struct PlanLine: Encodable { var plan: PlanBody }
            lines.append(ReplyJSON.text(PlanLine(plan: plan)))
        }
        return .lines(lines)
    }

    /// One line per hit, `{"id", "score", "matched_preferences", "vector_rank", "keyword_rank"}`,
    /// then with EXPLAIN one line with the arms, the hard filter, how the text was read and the plan.
    func query(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        guard let t = args.dropFirst().first, !{ if case .json = t { true } else { false } }() else {
            throw ProtocolError(.syntax, "QUERY needs the query text after the collection, e.g. QUERY perfumes \"fresh spring florals\"")
        }
        try service.checkText(t.text, "the query text")   // before the options are read
        let o = try SearchOptions(args.dropFirst(2), allowed: ["MODE", "FILTER", "K", "RAW", "EXPLAIN"])
        var input = QueryInput()
        input.collection = name
        input.text = t.text
        input.filter = FilterInput(text: o.filter)
        input.k = o.k
        input.understand = !o.raw
        input.explain = o.explain
        input.includeRecords = false
        guard let mode = PerfumeSearch.Mode(rawValue: o.mode ?? "hybrid") else {
            throw ProtocolError(.badValue, "MODE must be similarity, keyword or hybrid, got '\(o.mode ?? "")'", field: "search_type")
        }
        input.mode = mode
        let result = try service.query(input)
        struct HitLine: Encodable {
            var id: String, score: Double, matchedPreferences: [String], vectorRank: Int?, keywordRank: Int?
            enum CodingKeys: String, CodingKey {
                case id, score, matchedPreferences = "matched_preferences", vectorRank = "vector_rank", keywordRank = "keyword_rank"
            }
        }
        var lines = result.results.map {
            ReplyJSON.text(HitLine(id: $0.id, score: $0.score, matchedPreferences: $0.detail.matchedPreferences,
                                   vectorRank: $0.detail.vectorRank, keywordRank: $0.detail.keywordRank))
        }
        if o.explain {
            struct ExplainLine: Encodable {
                var arms: [String]
                @Nullable var filter: String?
                var scoring: String
                var parsed: ParsedBody?
                var plan: PlanBody?
            }
            lines.append(ReplyJSON.text(ExplainLine(arms: result.arms, filter: result.filter, scoring: result.scoring,
                                                    parsed: result.parsed, plan: result.plan)))
        }
        return .lines(lines)
    }

    func generate(_ args: ArraySlice<Token>) throws -> Reply {
        let o = try jsonObject(args, "GENERATE needs a JSON object, e.g. GENERATE {\"fragrance_family\": \"floral\"}")
        let request = try RecipeJSON.request(o, field: nil)
        let service = self.service
        // Commands run on a pool thread: waiting here for the LLM blocks only that thread.
        let outcome = waitBlocking { () -> Result<RecipeReply, Error> in
            do { return .success(try await service.generate(request, blocking: { try $0() })) } catch { return .failure(error) }
        }
        return .lines([ReplyJSON.text(try outcome.get())])
    }
}
