import Foundation

/// BERT's uncased tokenizer: BasicTokenizer (clean, CJK spacing, lower-case, strip accents,
/// punctuation split) then greedy longest-match WordPiece over `vocab.txt`. Works on Unicode
/// scalars throughout, as the reference does (not on Swift's grapheme clusters).
/// The exact behaviour is specified in shared/golden/README.md and checked by the golden tests.
public struct WordPieceTokenizer: Sendable {
    public static let cls: Int32 = 101, sep: Int32 = 102, pad: Int32 = 0, unk: Int32 = 100, mask: Int32 = 103
    static let specials: [(String, Int32)] = [("[CLS]", cls), ("[SEP]", sep), ("[PAD]", pad), ("[MASK]", mask), ("[UNK]", unk)]

    /// Keyed by UTF-8 bytes, not String: String equality is canonical equivalence, which would
    /// let decomposed jamo "사" match a precomposed "사" entry where the reference does not.
    let vocab: [[UInt8]: Int32]
    /// Word pieces per text including [CLS] and [SEP] (sentence-transformers' max_seq_length).
    public let maxLength: Int

    public init(vocabulary url: URL, maxLength: Int = 256) throws {
        guard let bytes = try? Data(contentsOf: url) else {
            throw EmbeddingError.modelMissing("cannot read \(url.path)")
        }
        // Split bytes, not Characters: a line holding a lone combining mark would otherwise
        // merge with the newline before it into one grapheme.
        var vocab: [[UInt8]: Int32] = [:]
        var id: Int32 = 0
        for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            if line.isEmpty && id > 0 { break }
            vocab[Array(line)] = id
            id += 1
        }
        guard vocab[Array("[CLS]".utf8)] == Self.cls, vocab[Array("[SEP]".utf8)] == Self.sep, vocab[Array("[UNK]".utf8)] == Self.unk else {
            throw EmbeddingError.badModel("\(url.path) is not the BERT uncased vocabulary")
        }
        self.vocab = vocab
        self.maxLength = maxLength
    }

    /// Token ids with [CLS] … [SEP], truncated to `maxLength`.
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        for segment in splitSpecials(text) {
            switch segment {
            case .special(let id): ids.append(id)
            case .text(let t): for word in basicTokens(t) { wordPiece(word, into: &ids) }
            }
            if ids.count >= maxLength - 2 { break }
        }
        return [Self.cls] + ids.prefix(maxLength - 2) + [Self.sep]
    }

    // MARK: - Literal special tokens

    enum Segment { case text(String.UnicodeScalarView.SubSequence), special(Int32) }

    func splitSpecials(_ text: String) -> [Segment] {
        let scalars = text.unicodeScalars
        var out: [Segment] = []
        var start = scalars.startIndex, i = scalars.startIndex
        outer: while i < scalars.endIndex {
            if scalars[i] == "[" {
                for (token, id) in Self.specials where scalars[i...].starts(with: token.unicodeScalars) {
                    if start < i { out.append(.text(scalars[start..<i])) }
                    out.append(.special(id))
                    i = scalars.index(i, offsetBy: token.unicodeScalars.count)
                    start = i
                    continue outer
                }
            }
            i = scalars.index(after: i)
        }
        if start < scalars.endIndex { out.append(.text(scalars[start...])) }
        return out
    }

    // MARK: - BasicTokenizer

    func basicTokens(_ text: String.UnicodeScalarView.SubSequence) -> [[Unicode.Scalar]] {
        // 1. Clean and space out CJK ideographs.
        var cleaned = String.UnicodeScalarView()
        for s in text {
            if s == "\t" || s == "\n" || s == "\r" { cleaned.append(" "); continue }
            if s.value == 0 || s.value == 0xFFFD { continue }
            switch s.properties.generalCategory {
            case .control, .format, .privateUse, .unassigned: continue
            default: break
            }
            if s.properties.isWhitespace { cleaned.append(" "); continue }
            if Self.isCJK(s) {
                cleaned.append(" "); cleaned.append(s); cleaned.append(" ")
            } else {
                cleaned.append(s)
            }
        }
        // 2. Lower-case each scalar on its own, then strip accents (NFD, drop Mn).
        var lowered = ""
        for s in cleaned { lowered += s.properties.lowercaseMapping }
        let decomposed = lowered.decomposedStringWithCanonicalMapping.unicodeScalars.filter {
            $0.properties.generalCategory != .nonspacingMark
        }
        // 3. Split on whitespace, then split off punctuation.
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        func flush() { if !current.isEmpty { words.append(current); current = [] } }
        for s in decomposed {
            if s.properties.isWhitespace { flush() }
            else if Self.isPunctuation(s) { flush(); words.append([s]) }
            else { current.append(s) }
        }
        flush()
        return words
    }

    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    // MARK: - WordPiece

    func wordPiece(_ word: [Unicode.Scalar], into ids: inout [Int32]) {
        guard word.count <= 100 else { ids.append(Self.unk); return }
        var pieces: [Int32] = []
        var start = 0
        var key: [UInt8] = []
        while start < word.count {
            var end = word.count
            var found: Int32?
            while start < end {
                key.removeAll(keepingCapacity: true)
                if start > 0 { key += [0x23, 0x23] }   // "##"
                for s in word[start..<end] { key += String(s).utf8 }
                if let id = vocab[key] { found = id; break }
                end -= 1
            }
            guard let id = found else { ids.append(Self.unk); return }
            pieces.append(id)
            start = end
        }
        ids += pieces
    }
}
