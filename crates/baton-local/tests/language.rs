//! Measures language detection on short labelled support messages (1–8 words), mostly English and
//! Spanish, with typos and missing accents.

use baton_local::language::detect;

const LABELLED: &[(&str, &str)] = &[
    // English
    ("en", "thanks"),
    ("en", "thank you"),
    ("en", "my internet is down"),
    ("en", "hello"),
    ("en", "hi there"),
    ("en", "yes please"),
    ("en", "my intrenet is donw"),
    ("en", "the router keeps blinking red"),
    ("en", "I was charged twice this month"),
    ("en", "can I get a refund"),
    ("en", "where is my invoice"),
    ("en", "wifi not working"),
    ("en", "when are you open on saturday?"),
    ("en", "I want to talk to a person"),
    ("en", "my connection is very slow"),
    ("en", "no signal since yesterday"),
    ("en", "it's 42"),
    ("en", "customer 42"),
    ("en", "ok thanks bye"),
    ("en", "good morning"),
    ("en", "please help me"),
    ("en", "why is my bill so high"),
    ("en", "cancel my subscription"),
    ("en", "how do I reset the modem"),
    ("en", "the line keeps dropping"),
    ("en", "I need a new password"),
    ("en", "great, that worked"),
    ("en", "is there an outage in my area"),
    ("en", "refund pls"),
    ("en", "whats my balance"),
    ("en", "i cant log in"),
    ("en", "still not wroking"),
    ("en", "can you check my line"),
    ("en", "I paid but it says overdue"),
    ("en", "get me a human"),
    ("en", "representative please"),
    ("en", "nothing works at all"),
    ("en", "do you have fibre in my street"),
    ("en", "perfect, thank you so much"),
    ("en", "my invoice INV-2041 is wrong"),
    ("en", "who can help me"),
    ("en", "upgrade my plan"),
    ("en", "the tv box is frozen"),
    ("en", "sure"),
    // Spanish
    ("es", "hola"),
    ("es", "gracias"),
    ("es", "no tengo internet"),
    ("es", "quiero un reembolso"),
    ("es", "el router no enciende, que hago"),
    ("es", "el router no enciende, ¿qué hago?"),
    ("es", "me cobraron dos veces"),
    ("es", "buenos dias"),
    ("es", "buenas tardes"),
    ("es", "muchas gracias"),
    ("es", "mi factura esta mal"),
    ("es", "mi factura está mal"),
    ("es", "quiero hablar con una persona"),
    ("es", "un humano por favor"),
    ("es", "la conexion es muy lenta"),
    ("es", "la conexión es muy lenta"),
    ("es", "no funciona el wifi"),
    ("es", "cuando abren el sabado"),
    ("es", "necesito ayuda"),
    ("es", "se corto la linea"),
    ("es", "mi numero de cliente es 42"),
    ("es", "vale, gracias"),
    ("es", "perfecto"),
    ("es", "quiero cancelar mi contrato"),
    ("es", "por que me cobran tanto"),
    ("es", "tengo un problema con mi factura"),
    ("es", "no me llega la señal"),
    ("es", "no me llega la senal"),
    ("es", "hay una averia en mi zona"),
    ("es", "como reinicio el modem"),
    ("es", "el internet va fatal"),
    ("es", "quiero devolver el router"),
    ("es", "cuanto cuesta la fibra"),
    ("es", "me pueden ayudar"),
    ("es", "sigue sin funcionar"),
    ("es", "ya funciona, gracias"),
    ("es", "tengo internet lentisimo"),
    ("es", "kiero un reembolso"),
    ("es", "no puedo entrar a mi cuenta"),
    ("es", "donde esta mi factura"),
    ("es", "adios"),
    ("es", "si, por favor"),
    ("es", "me han cobrado de mas"),
    ("es", "nesesito hablar con alguien"),
    // French
    ("fr", "bonjour"),
    ("fr", "merci beaucoup"),
    ("fr", "je n'ai plus internet"),
    ("fr", "je veux parler à un conseiller"),
    ("fr", "je veux parler a un conseiller"),
    ("fr", "ma facture est fausse"),
    ("fr", "le routeur ne s'allume pas"),
    ("fr", "vous êtes ouverts le samedi ?"),
    ("fr", "je voudrais un remboursement"),
    ("fr", "la connexion est tres lente"),
    ("fr", "oui merci"),
    ("fr", "j'ai été débité deux fois"),
    ("fr", "au revoir"),
    // German
    ("de", "hallo"),
    ("de", "danke schön"),
    ("de", "mein Internet geht nicht"),
    ("de", "ich möchte eine Rückerstattung"),
    ("de", "ich mochte mit einem Menschen sprechen"),
    ("de", "meine Rechnung ist falsch"),
    ("de", "der Router startet nicht"),
    ("de", "die Verbindung ist sehr langsam"),
    ("de", "guten Morgen"),
    ("de", "wann habt ihr geöffnet"),
    ("de", "ja bitte"),
    ("de", "mir wurde doppelt abgebucht"),
    // Italian
    ("it", "ciao"),
    ("it", "grazie mille"),
    ("it", "non ho internet"),
    ("it", "voglio un rimborso"),
    ("it", "vorrei parlare con un operatore"),
    ("it", "la mia fattura è sbagliata"),
    ("it", "il router non si accende"),
    ("it", "la connessione è molto lenta"),
    ("it", "buongiorno"),
    ("it", "siete aperti il sabato?"),
    ("it", "mi hanno addebitato due volte"),
    ("it", "la linea non funziona"),
    // Portuguese
    ("pt", "olá"),
    ("pt", "obrigado"),
    ("pt", "estou sem internet"),
    ("pt", "quero um reembolso"),
    ("pt", "quero falar com uma pessoa"),
    ("pt", "minha fatura está errada"),
    ("pt", "o roteador não liga"),
    ("pt", "a conexão está muito lenta"),
    ("pt", "bom dia"),
    ("pt", "voces abrem no sabado?"),
    ("pt", "fui cobrado duas vezes"),
    ("pt", "muito obrigada"),
];

#[test]
fn short_messages_are_told_apart() {
    let mut right = 0;
    let mut unknown = 0;
    for (expected, text) in LABELLED {
        match detect(text) {
            Some(found) if found == *expected => right += 1,
            None => {
                unknown += 1;
                println!("undecided: {expected} {text:?}");
            }
            Some(found) => println!("wrong:     {expected} {text:?} -> {found}"),
        }
    }
    let accuracy = right as f64 / LABELLED.len() as f64;
    println!(
        "language detection: {right}/{} right ({accuracy:.3}), {unknown} undecided, {} wrong",
        LABELLED.len(),
        LABELLED.len() - right - unknown
    );
    assert!(LABELLED.len() >= 120);
    assert!(accuracy >= 0.95, "accuracy {accuracy:.3} is below 0.95");
}

#[test]
fn too_little_text_has_no_language() {
    // "ok" and "wifi" are written in every language: a Spanish speaker's "ok" is not English.
    for text in ["", "42", "INV-2041", "?!", "12/03/2026 49.99", "ok", "OK!", "wifi"] {
        assert_eq!(detect(text), None, "{text:?}");
    }
    for (expected, text) in
        [("en", "thanks"), ("en", "ok thanks"), ("es", "hola"), ("es", "ok gracias"), ("es", "no tengo internet")]
    {
        assert_eq!(detect(text), Some(expected), "{text:?}");
    }
}
