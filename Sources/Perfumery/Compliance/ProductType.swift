import Foundation

/// IFRA's product categories (51st Amendment): a standard's limit depends on where the
/// product goes and how much of it stays on skin.
public enum IFRACategory: String, Codable, Sendable, CaseIterable, Comparable {
    case c1 = "1", c2 = "2", c3 = "3", c4 = "4", c5A = "5A", c5B = "5B", c5C = "5C", c5D = "5D", c6 = "6"
    case c7A = "7A", c7B = "7B", c8 = "8", c9 = "9", c10A = "10A", c10B = "10B", c11A = "11A", c11B = "11B", c12 = "12"

    public static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }

    /// IFRA's own summary of what falls in the category.
    public var about: String {
        switch self {
        case .c1: "lip products, toys"
        case .c2: "deodorants and antiperspirants, body sprays and mists"
        case .c3: "eye products, facial make-up, men's facial creams, products on recently shaved skin"
        case .c4: "fine fragrance, eau de toilette, hydroalcoholic products on unshaved skin, hair styling"
        case .c5A: "body lotions, creams and oils (applied with the palms)"
        case .c5B: "face moisturisers and creams"
        case .c5C: "hand creams and sanitisers"
        case .c5D: "baby creams, oils and talc"
        case .c6: "mouthwash, toothpaste"
        case .c7A: "rinse-off hair products applied by hand (dyes, treatments)"
        case .c7B: "leave-on hair products applied by hand"
        case .c8: "products with significant anogenital exposure, intimate and baby wipes"
        case .c9: "rinse-off products: soap, shampoo, shower gel, conditioner"
        case .c10A: "household products with skin contact: detergents, hand dishwashing"
        case .c10B: "household products with little skin contact: aerosol air fresheners, cleaners"
        case .c11A: "products on inert substrates with skin contact, no UV exposure"
        case .c11B: "products on inert substrates with skin contact and UV exposure"
        case .c12: "no skin contact: candles, reed diffusers, air fresheners, incense"
        }
    }
}

/// What a formula is for: its IFRA category, the EU label threshold that applies to its
/// allergens, which Annex III musk limit holds, and the usual fragrance share of the product.
public struct ProductType: Sendable, Equatable, Codable {
    public enum Exposure: String, Codable, Sendable {
        /// Cosmetics left on skin: allergens labelled above 0.001% (EU 2023/1545).
        case leaveOn = "leave_on"
        /// Rinse-off cosmetics, and detergents: above 0.01%.
        case rinseOff = "rinse_off"
        /// Not a cosmetic (candles, diffusers): the rinse-off threshold is shown as a guide.
        case none
    }
    public enum MuskClass: String, Codable, Sendable { case fineFragrance = "fine_fragrance", eauDeToilette = "eau_de_toilette", otherProducts = "other_products" }

    public var name: String
    public var category: IFRACategory
    public var exposure: Exposure
    public var hydroalcoholic: Bool
    /// A typical % of fragrance concentrate in the product (fine fragrance: by concentration).
    public var typicalFragrancePercent: Double
    public var carrier: String

    public static let known: [ProductType] = [
        .init(name: "fine_fragrance", category: .c4, exposure: .leaveOn, hydroalcoholic: true, typicalFragrancePercent: 16, carrier: "ethanol"),
        .init(name: "aftershave", category: .c3, exposure: .leaveOn, hydroalcoholic: true, typicalFragrancePercent: 3, carrier: "ethanol"),
        .init(name: "body_spray", category: .c2, exposure: .leaveOn, hydroalcoholic: true, typicalFragrancePercent: 2, carrier: "ethanol"),
        .init(name: "deodorant", category: .c2, exposure: .leaveOn, hydroalcoholic: false, typicalFragrancePercent: 1, carrier: "deodorant base"),
        .init(name: "lip_balm", category: .c1, exposure: .leaveOn, hydroalcoholic: false, typicalFragrancePercent: 0.3, carrier: "lip balm base"),
        .init(name: "body_lotion", category: .c5A, exposure: .leaveOn, hydroalcoholic: false, typicalFragrancePercent: 0.5, carrier: "lotion base"),
        .init(name: "face_cream", category: .c5B, exposure: .leaveOn, hydroalcoholic: false, typicalFragrancePercent: 0.3, carrier: "cream base"),
        .init(name: "hand_cream", category: .c5C, exposure: .leaveOn, hydroalcoholic: false, typicalFragrancePercent: 0.5, carrier: "cream base"),
        .init(name: "baby_lotion", category: .c5D, exposure: .leaveOn, hydroalcoholic: false, typicalFragrancePercent: 0.1, carrier: "lotion base"),
        .init(name: "hair_mask", category: .c7A, exposure: .rinseOff, hydroalcoholic: false, typicalFragrancePercent: 0.5, carrier: "hair treatment base"),
        .init(name: "hair_cream", category: .c7B, exposure: .leaveOn, hydroalcoholic: false, typicalFragrancePercent: 0.3, carrier: "hair cream base"),
        .init(name: "baby_wipes", category: .c8, exposure: .leaveOn, hydroalcoholic: false, typicalFragrancePercent: 0.1, carrier: "wipe lotion"),
        .init(name: "shampoo", category: .c9, exposure: .rinseOff, hydroalcoholic: false, typicalFragrancePercent: 0.8, carrier: "shampoo base"),
        .init(name: "shower_gel", category: .c9, exposure: .rinseOff, hydroalcoholic: false, typicalFragrancePercent: 1, carrier: "shower gel base"),
        .init(name: "soap", category: .c9, exposure: .rinseOff, hydroalcoholic: false, typicalFragrancePercent: 1.5, carrier: "soap base"),
        .init(name: "laundry_detergent", category: .c10A, exposure: .rinseOff, hydroalcoholic: false, typicalFragrancePercent: 0.5, carrier: "detergent base"),
        .init(name: "air_freshener_spray", category: .c10B, exposure: .none, hydroalcoholic: false, typicalFragrancePercent: 1, carrier: "aerosol base"),
        .init(name: "candle", category: .c12, exposure: .none, hydroalcoholic: false, typicalFragrancePercent: 8, carrier: "candle wax"),
        .init(name: "reed_diffuser", category: .c12, exposure: .none, hydroalcoholic: false, typicalFragrancePercent: 20, carrier: "diffuser solvent"),
    ]

    public static let fineFragrance = known[0]

    /// A product by name ("body lotion", "body_lotion", "Body-Lotion") or by IFRA category ("5A", "cat5A").
    public init?(word: String) {
        let w = Vocabulary.fold(word).replacingOccurrences(of: " ", with: "_").replacingOccurrences(of: "-", with: "_")
        let aliases = ["perfume": "fine_fragrance", "eau_de_parfum": "fine_fragrance", "eau_de_toilette": "fine_fragrance", "edp": "fine_fragrance",
                       "edt": "fine_fragrance", "parfum": "fine_fragrance", "cologne": "fine_fragrance", "lotion": "body_lotion", "body_oil": "body_lotion",
                       "body_wash": "shower_gel", "bar_soap": "soap", "liquid_soap": "soap", "detergent": "laundry_detergent", "diffuser": "reed_diffuser",
                       "room_spray": "air_freshener_spray", "body_mist": "body_spray", "conditioner": "shampoo"]
        let key = aliases[w] ?? w
        if let p = Self.known.first(where: { $0.name == key }) { self = p; return }
        let cat = key.hasPrefix("cat") ? String(key.dropFirst(3)) : key
        guard let c = IFRACategory(rawValue: cat.uppercased()) else { return nil }
        self = Self.known.first { $0.category == c }
            ?? ProductType(name: "category_\(c.rawValue)", category: c, exposure: .leaveOn, hydroalcoholic: false, typicalFragrancePercent: 1, carrier: "product base")
    }

    init(name: String, category: IFRACategory, exposure: Exposure, hydroalcoholic: Bool, typicalFragrancePercent: Double, carrier: String) {
        self.name = name
        self.category = category
        self.exposure = exposure
        self.hydroalcoholic = hydroalcoholic
        self.typicalFragrancePercent = typicalFragrancePercent
        self.carrier = carrier
    }

    public static var names: [String] { known.map(\.name) }

    /// The concentrate's % of the product when nobody says: the concentration's for a fine
    /// fragrance, the product's usual share otherwise.
    public func defaultFragrancePercent(_ c: Recipe.Concentration) -> Double {
        name == "fine_fragrance" ? c.percent : typicalFragrancePercent
    }

    /// Allergens above this % of the product are declared.
    public var labelThreshold: Double { exposure == .leaveOn ? 0.001 : 0.01 }

    /// Which EU Annex III musk limit applies: fine fragrance for EdP and Parfum, eau de
    /// toilette for EdT and EdC, other products for the rest.
    public func muskClass(_ c: Recipe.Concentration) -> MuskClass {
        guard name == "fine_fragrance" else { return .otherProducts }
        return c == .edp || c == .parfum ? .fineFragrance : .eauDeToilette
    }

    enum CodingKeys: String, CodingKey { case name, category = "ifra_category", exposure, carrier }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(category, forKey: .category)
        try c.encode(exposure, forKey: .exposure)
        try c.encode(carrier, forKey: .carrier)
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let name = try c.decode(String.self, forKey: .name)
        guard let p = ProductType(word: name) else {
            throw DecodingError.dataCorruptedError(forKey: .name, in: c, debugDescription: "unknown product '\(name)'")
        }
        self = p
    }
}
