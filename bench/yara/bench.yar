// bench.yar — YARA rules of typical shapes for sluice-checks-bench (bench/checks_bench.c):
// text strings (nocase, wide), hex strings with jumps, a regular expression, a header
// condition and a string count. None matches the benchmark's CSV-like text.

rule bench_webshell : webshell
{
    strings:
        $a = "eval(base64_decode(" nocase
        $b = "system($_GET[" nocase
        $c = "passthru(" nocase wide ascii
    condition:
        any of them
}

rule bench_pe_header : exe
{
    condition:
        uint16(0) == 0x5A4D and uint32(uint32(0x3C)) == 0x00004550
}

rule bench_hex_jump
{
    strings:
        $h = { 4D 5A [2-64] 50 45 00 00 }
        $e = { 7F 45 4C 46 ( 01 | 02 ) ( 01 | 02 ) 01 }
    condition:
        $h at 0 or $e at 0
}

rule bench_regex : secret
{
    strings:
        $r = /-----BEGIN (RSA|EC|OPENSSH) PRIVATE KEY-----[A-Za-z0-9+\/=\r\n]{64}/
    condition:
        $r
}

rule bench_count
{
    strings:
        $p = "powershell -enc" nocase
    condition:
        #p > 2
}
