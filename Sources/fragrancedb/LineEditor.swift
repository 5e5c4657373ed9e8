import Foundation

/// A small line editor for the interactive shell: raw terminal mode, ←/→, Home/End,
/// backspace, ↑/↓ through history, Ctrl-R to search it backwards, Tab to complete the current
/// word, Ctrl-D to leave, Ctrl-C to drop the line. The cursor moves in terminal columns, so
/// Korean text edits in place. History persists in a file (the last 1,000 lines; lines with
/// AUTH or HELLO are never written, they carry tokens). No readline/libedit dependency.
final class LineEditor {
    private var history: [String] = []
    private let historyFile: URL?
    static let historyLimit = 1000
    /// The first word completes from the commands; later words from `words()` (keywords and
    /// the collections as they are now), so a keyword such as COLLAPSE never makes COLL<Tab>
    /// ambiguous and a new collection completes as soon as it exists.
    private let commands: [String]
    private let words: () -> [String]

    init(commands: [String], words: @escaping () -> [String], historyFile: URL? = nil) {
        self.commands = commands
        self.words = words
        self.historyFile = historyFile
        if let historyFile, let text = try? String(contentsOf: historyFile, encoding: .utf8) {
            history = Array(text.split(separator: "\n").map(String.init).suffix(Self.historyLimit))
        }
    }

    /// Lines that carry a secret stay out of the history file.
    static func isSecret(_ line: String) -> Bool {
        let first = line.split(separator: " ").first.map { $0.uppercased() } ?? ""
        return first == "AUTH" || first == "HELLO"
    }

    private func remember(_ line: String) {
        guard !line.trimmingCharacters(in: .whitespaces).isEmpty, history.last != line, !Self.isSecret(line) else { return }
        history.append(line)
        if history.count > Self.historyLimit { history.removeFirst(history.count - Self.historyLimit) }
        guard let historyFile else { return }
        // Rewritten whole (it is small) with owner-only permissions: commands can hold data.
        let text = history.joined(separator: "\n") + "\n"
        if FileManager.default.createFile(atPath: historyFile.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) == false {
            try? Data(text.utf8).write(to: historyFile)
        }
    }

    func read(prompt: String) -> String? {
        guard isatty(STDIN_FILENO) != 0 else {
            print(prompt, terminator: "")
            fflush(nil)
            return readLine()
        }
        var original = termios()
        tcgetattr(STDIN_FILENO, &original)
        var raw = original
        raw.c_lflag &= ~tcflag_t(ECHO | ICANON | ISIG)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)   // NOW, not FLUSH: keep type-ahead
        defer { tcsetattr(STDIN_FILENO, TCSANOW, &original) }

        var buffer: [Character] = []
        var cursor = 0
        var recall = history.count
        var search: (query: String, from: Int)?   // Ctrl-R: the text sought and where the match is
        func redraw() {
            if let search {
                let match = search.from < history.count ? history[search.from] : ""
                write("\r\u{1B}[K(reverse-i-search)'\(search.query)': \(match)")
                return
            }
            write("\r\u{1B}[K\(prompt)\(String(buffer))")
            let back = Terminal.width(String(buffer[cursor...]))
            if back > 0 { write("\u{1B}[\(back)D") }
        }
        /// The newest history line at or before `start` holding `query`.
        func find(_ query: String, before start: Int) -> Int? {
            guard !query.isEmpty else { return nil }
            var i = min(start, history.count - 1)
            while i >= 0 {
                if history[i].localizedCaseInsensitiveContains(query) { return i }
                i -= 1
            }
            return nil
        }
        func leaveSearch() {
            if let s = search, s.from < history.count { buffer = Array(history[s.from]); cursor = buffer.count }
            search = nil
        }
        redraw()
        while true {
            guard let byte = readByte() else { return nil }
            if var s = search {
                switch byte {
                case 0x12:   // Ctrl-R again: an older match
                    if let i = find(s.query, before: s.from - 1) { s.from = i; search = s }
                    redraw(); continue
                case 0x7F, 0x08:
                    s.query = String(s.query.dropLast())
                    s.from = find(s.query, before: history.count - 1) ?? history.count
                    search = s
                    redraw(); continue
                case 0x03, 0x07:   // Ctrl-C, Ctrl-G: back to the line as it was
                    search = nil
                    redraw(); continue
                case 0x0D, 0x0A: leaveSearch()   // Enter runs the match (below)
                case 0x1B: leaveSearch()   // Esc (or an arrow): edit the match
                default:
                    if byte >= 0x20 {
                        s.query.append(Character(Unicode.Scalar(readUTF8(first: byte)) ?? "?"))
                        s.from = find(s.query, before: min(s.from, history.count - 1)) ?? find(s.query, before: history.count - 1) ?? history.count
                        search = s
                        redraw()
                    }
                    continue
                }
            }
            switch byte {
            case 0x0D, 0x0A:   // Enter
                write("\r\u{1B}[K\(prompt)\(String(buffer))\r\n")
                let line = String(buffer)
                remember(line)
                return line
            case 0x04:         // Ctrl-D
                if buffer.isEmpty { write("\r\n"); return nil }
            case 0x03:         // Ctrl-C
                write("^C\r\n")
                buffer = []; cursor = 0
            case 0x12:         // Ctrl-R
                search = ("", history.count)
            case 0x7F, 0x08:   // Backspace
                if cursor > 0 { buffer.remove(at: cursor - 1); cursor -= 1 }
            case 0x09:         // Tab
                let start = buffer[..<cursor].lastIndex(of: " ").map { $0 + 1 } ?? 0
                let word = String(buffer[start..<cursor])
                let first = buffer[..<start].allSatisfy { $0 == " " }
                let matches = Array(Set((first ? commands : words()).filter { $0.lowercased().hasPrefix(word.lowercased()) })).sorted()
                if matches.count == 1 {
                    let rest = Array(matches[0].dropFirst(word.count)) + [" "]
                    buffer.insert(contentsOf: rest, at: cursor)
                    cursor += rest.count
                } else if matches.count > 1 {
                    write("\r\n" + matches.joined(separator: "  ") + "\r\n")
                }
            case 0x01: cursor = 0                 // Ctrl-A
            case 0x05: cursor = buffer.count      // Ctrl-E
            case 0x1B:         // escape sequences: arrows, Home, End
                guard readByte() == 0x5B, let key = readByte() else { break }
                switch key {
                case 0x41 where recall > 0:                         // ↑
                    recall -= 1; buffer = Array(history[recall]); cursor = buffer.count
                case 0x42 where recall < history.count:             // ↓
                    recall += 1
                    buffer = recall < history.count ? Array(history[recall]) : []
                    cursor = buffer.count
                case 0x43 where cursor < buffer.count: cursor += 1   // →
                case 0x44 where cursor > 0: cursor -= 1              // ←
                case 0x48: cursor = 0                                // Home
                case 0x46: cursor = buffer.count                     // End
                default: break
                }
            default:
                if byte >= 0x20 {
                    buffer.insert(Character(Unicode.Scalar(readUTF8(first: byte)) ?? "?"), at: cursor)
                    cursor += 1
                }
            }
            redraw()
        }
    }

    private func readByte() -> UInt8? {
        var b: UInt8 = 0
        return Foundation.read(STDIN_FILENO, &b, 1) == 1 ? b : nil
    }

    /// The rest of a UTF-8 sequence whose first byte was read.
    private func readUTF8(first: UInt8) -> UInt32 {
        let extra = first >= 0xF0 ? 3 : first >= 0xE0 ? 2 : first >= 0xC0 ? 1 : 0
        var value = UInt32(extra == 0 ? first : first & (0x3F >> UInt8(extra)))
        for _ in 0..<extra { value = value << 6 | UInt32((readByte() ?? 0x80) & 0x3F) }
        return value
    }

    private func write(_ s: String) {
        FileHandle.standardOutput.write(Data(s.utf8))
    }
}
