import FragranceProtocol
import FragranceStore
import Foundation
import Perfumery
import RAG

// The command bodies with more than a line of decoding: CREATE, ALTER, UPSERT, SEARCH, QUERY,
// SCROLL, FACETS, GENERATE.
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

    /// All or none; with EACH (before the JSON, which runs to the end of the line) item by
    /// item, one JSON line `{"items", "inserted", "updated", "errors"}` (the reply of HTTP's
    /// NDJSON bulk write; `line` is the position from 1).
    func upsert(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        var rest = args.dropFirst()
        var each = false
        if let t = rest.first, case .word(let w) = t {
            guard w.uppercased() == "EACH" else { throw ProtocolError(.syntax, "UPSERT takes EACH or the JSON records after the collection name, not '\(w)'") }
            each = true
            rest = rest.dropFirst()
        }
        guard let json = rest.first, case .json(let text) = json else {
            throw ProtocolError(.syntax, "UPSERT needs a JSON record or array after the collection name")
        }
        if each {
            let items = try Record.decodeItems(json: text).enumerated().map { i, item in
                BulkItem(line: i + 1, id: item.id, record: item.record.mapError { ProtocolError($0.code, "item \(i + 1): \($0.message)") })
            }
            return .lines([ReplyJSON.text(try service.upsertItems(name, items))])
        }
        let w = try service.upsert(name, try Record.decodeList(json: text))
        return .ok("inserted=\(w.inserted) updated=\(w.updated)")
    }

    func search(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        let o = try SearchOptions(args.dropFirst(), allowed: Set(CommandTable.byName["SEARCH"]!.keywords))
        guard o.text != nil || o.vector != nil else { throw ProtocolError(.syntax, "SEARCH needs TEXT \"…\" or VECTOR [..]") }
        var input = SearchInput(collection: name)
        input.text = o.text
        input.vector = o.vector
        input.filter = FilterInput(text: o.filter)
        input.k = o.k
        input.ef = o.ef
        input.exact = o.exact
        input.explain = o.explain
        input.includeRecords = o.records
        input.paging = Self.paging(o)
        let result = try service.search(input)
        var lines = result.hits.map(Self.hitLine)
        if let facets = result.facets { lines.append(ReplyJSON.text(FacetsLine(facets: facets))) }
        if let plan = result.plan {
            struct PlanLine: Encodable { var plan: PlanBody }
            lines.append(ReplyJSON.text(PlanLine(plan: plan)))
        }
        return .lines(lines)
    }

    /// One line per query, in the order given: a JSON array of its hits `{"distance", "id", "score"}`.
    func multiSearch(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        let o = try SearchOptions(args.dropFirst(), allowed: Set(CommandTable.byName["MSEARCH"]!.keywords))
        let vectors: MultiSearchInput.Vectors
        if let lists = o.vectors { vectors = .lists(lists) } else if let packed = o.packedVectors { vectors = .packed(packed) } else {
            throw ProtocolError(.syntax, "MSEARCH needs VECTORS b64:… or VECTORS [[..], [..]], last on the line")
        }
        var input = MultiSearchInput(collection: name, vectors: vectors)
        input.filter = FilterInput(text: o.filter)
        (input.k, input.ef, input.exact) = (o.k, o.ef, o.exact)
        let reply = try service.multiSearch(input)
        return .lines(reply.results.map { "[" + $0.map(Self.hitLine).joined(separator: ",") + "]" })
    }

    /// `{"distance", "id"[, "record"], "score"}`: written by hand, as this is the hot path of every search reply.
    static func hitLine(_ h: SearchHitBody) -> String {
        "{\"distance\":\(h.distance),\"id\":\(jsonString(h.id))" + (h.record.map { ",\"record\":" + ReplyJSON.text($0) } ?? "") + ",\"score\":\(h.score)}"
    }

    /// One line per hit, `{"id", "score", "matched_preferences", "vector_rank", "keyword_rank"}`,
    /// then with EXPLAIN one line with the arms, the hard filter, how the text was read and the plan.
    func query(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        guard let t = args.dropFirst().first, !{ if case .json = t { true } else { false } }() else {
            throw ProtocolError(.syntax, "QUERY needs the query text after the collection, e.g. QUERY perfumes \"fresh spring florals\"")
        }
        try service.checkText(t.text, "the query text")   // before the options are read
        let o = try SearchOptions(args.dropFirst(2), allowed: Set(CommandTable.byName["QUERY"]!.keywords))
        var input = QueryInput()
        input.collection = name
        input.text = t.text
        input.filter = FilterInput(text: o.filter)
        input.k = o.k
        input.understand = !o.raw
        input.explain = o.explain
        input.includeRecords = o.records
        input.paging = Self.paging(o)
        input.qualityPrior = o.prior
        input.collapse = o.collapse
        input.diversity = o.diversity
        guard let mode = PerfumeSearch.Mode(rawValue: o.mode ?? "hybrid") else {
            throw ProtocolError(.badValue, "MODE must be similarity, keyword or hybrid, got '\(o.mode ?? "")'", field: "search_type")
        }
        input.mode = mode
        let result = try service.query(input)
        struct HitLine: Encodable {
            var id: String, score: Double, matchedPreferences: [String], vectorRank: Int?, keywordRank: Int?, popularityRank: Int?
            var record: RecordBody?, collapsed: [String]?
            enum CodingKeys: String, CodingKey {
                case id, score, record, collapsed, matchedPreferences = "matched_preferences", vectorRank = "vector_rank", keywordRank = "keyword_rank"
                case popularityRank = "popularity_rank"
            }
        }
        var lines = result.results.map {
            ReplyJSON.text(HitLine(id: $0.id, score: $0.score, matchedPreferences: $0.detail.matchedPreferences,
                                   vectorRank: $0.detail.vectorRank, keywordRank: $0.detail.keywordRank, popularityRank: $0.detail.popularityRank,
                                   record: $0.record, collapsed: $0.collapsed))
        }
        if let facets = result.facets { lines.append(ReplyJSON.text(FacetsLine(facets: facets))) }
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

    /// One JSON line per record, then `{"count", "next", "facets"}` (next: null on the last page).
    func scroll(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        let o = try SearchOptions(args.dropFirst(), allowed: Set(CommandTable.byName["SCROLL"]!.keywords))
        var input = BrowseInput(collection: name)
        input.filter = FilterInput(text: o.filter)
        (input.order, input.after, input.limit, input.fields) = (o.order, o.after, o.limit, o.fields)
        (input.facets, input.facetSize) = (o.facets, o.facetSize)
        let page = try service.browse(input)
        struct Tail: Encodable {
            var count: Int
            @Nullable var next: String?
            var facets: [FacetBody]?
        }
        return .lines(page.records.map(ReplyJSON.text) + [ReplyJSON.text(Tail(count: page.count, next: page.next, facets: page.facets))])
    }

    func facets(_ args: ArraySlice<Token>) throws -> Reply {
        let name = try self.name(args)
        guard let list = args.dropFirst().first, !{ if case .json = list { true } else { false } }() else {
            throw ProtocolError(.syntax, "FACETS needs the fields after the collection, e.g. FACETS perfumes \"family,year:10\"")
        }
        let o = try SearchOptions(args.dropFirst(2), allowed: Set(CommandTable.byName["FACETS"]!.keywords))
        var input = FacetsInput(collection: name)
        input.fields = list.text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        input.filter = FilterInput(text: o.filter)
        input.size = o.facetSize
        return .lines([ReplyJSON.text(try service.facets(input))])
    }

    static func paging(_ o: SearchOptions) -> SearchPaging {
        var p = SearchPaging()
        (p.offset, p.scoreThreshold, p.maxDistance, p.fields, p.facets, p.facetSize) = (o.offset, o.scoreThreshold, o.maxDistance, o.fields, o.facets, o.facetSize)
        return p
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

/// SEARCH's and QUERY's facets line.
struct FacetsLine: Encodable { var facets: [FacetBody] }
