/*
 * In-browser crypto-miners: pages or scripts that mine with the visitor's CPU (CoinHive and its clones).
 */

rule Cryptominer_Browser
{
    meta:
        description = "In-browser crypto-miner (CoinHive, CryptoLoot, CoinImp, JSEcoin, WebMinerPool and clones)"
        severity = "high"
        reference = "https://en.wikipedia.org/wiki/Coinhive"
        source = "yara"
        author = "bucketguard"

    strings:
        $lib1 = "coinhive.min.js" nocase
        $lib2 = "CoinHive.Anonymous" nocase
        $lib3 = "CoinHive.User" nocase
        $lib4 = "coin-hive.com" nocase
        $lib5 = "authedmine.com" nocase
        $lib6 = "crypto-loot.com" nocase
        $lib7 = "cryptoloot.pro" nocase
        $lib8 = "coinimp.com" nocase
        $lib9 = "webminepool.com" nocase
        $lib10 = "jsecoin.com" nocase
        $lib11 = "minero.cc" nocase
        $lib12 = "deepMiner.Anonymous" nocase
        $lib13 = "webminerpool" nocase
        $lib14 = /Client\.Anonymous\s*\(\s*["'][0-9a-f]{32,}["']/
        $algo1 = "cryptonight" nocase
        $algo2 = "randomx" nocase
        $pool1 = "stratum+tcp://" nocase
        $pool2 = "stratum+ssl://" nocase
        $api1 = /\.setThrottle\s*\(/
        $api2 = /\.start\s*\(\s*\)/
        $api3 = "hashesPerSecond" nocase
        $api4 = "WebAssembly" ascii
        $api5 = "new Worker" ascii

    condition:
        any of ($lib*) or (any of ($algo*) and 2 of ($api*)) or (any of ($pool*) and any of ($api*))
}
