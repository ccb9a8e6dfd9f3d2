;; The inner loops of FastCDC's cut (chunker/fastcdc.ts), as WebAssembly: a 32-bit Gear
;; hash over bytes, stopping after the first byte whose hash has none of the mask's bits.
;; Compiled by scripts/build-wasm.mjs (wabt) into chunker/gear-scan.ts, which embeds it.
;;
;; Memory: the gear table at bytes 0..1023 (256 little-endian int32), the data block from
;; byte 1024 (the caller copies the bytes to scan there).
;;
;; scan(i, stop1, stop2, maskS, maskL): continues the hash kept in global `fp` over data
;; bytes i .. stop1 - 1 with maskS, then up to stop2 - 1 with maskL (offsets in the data
;; block). Returns the offset after the first byte that matches, or 0 when none does
;; (`fp` then holds the hash after byte stop2 - 1, for the next block).
(module
  (memory (export "memory") 1)
  (global $fp (export "fp") (mut i32) (i32.const 0))
  (func (export "scan") (param $i i32) (param $stop1 i32) (param $stop2 i32) (param $maskS i32) (param $maskL i32) (result i32)
    (local $fp i32)
    (local.set $fp (global.get $fp))
    (block $done1
      (loop $next1
        (br_if $done1 (i32.ge_u (local.get $i) (local.get $stop1)))
        (local.set $fp (i32.add (i32.shl (local.get $fp) (i32.const 1))
                                (i32.load (i32.shl (i32.load8_u offset=1024 (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $next1 (i32.and (local.get $fp) (local.get $maskS)))
        (global.set $fp (local.get $fp))
        (return (local.get $i))))
    (block $done2
      (loop $next2
        (br_if $done2 (i32.ge_u (local.get $i) (local.get $stop2)))
        (local.set $fp (i32.add (i32.shl (local.get $fp) (i32.const 1))
                                (i32.load (i32.shl (i32.load8_u offset=1024 (local.get $i)) (i32.const 2)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $next2 (i32.and (local.get $fp) (local.get $maskL)))
        (global.set $fp (local.get $fp))
        (return (local.get $i))))
    (global.set $fp (local.get $fp))
    (i32.const 0))
)
