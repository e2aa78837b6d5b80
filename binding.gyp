{
  "targets": [
    {
      "target_name": "cairn_native",
      "sources": ["native/cairn_native.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
