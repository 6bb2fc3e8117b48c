import Charts
import Testing

@Suite struct MarkupTextTests {
    @Test func aLogLineWithAScriptTagIsShownAsText() {
        #expect(MarkupText.escaped("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;")
        #expect(MarkupText.escaped("a=\"1\" & b='2'") == "a=&quot;1&quot; &amp; b=&#39;2&#39;")
    }
}
