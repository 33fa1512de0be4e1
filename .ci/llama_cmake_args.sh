#!/bin/sh
# Prints the CMake arguments that llama.cpp (llama-cpp-python's source build, and the
# benchmark's llama-server) needs on this machine; nothing on most machines. The Makefile
# puts them in front of the user's own CMAKE_ARGS.
#
# On CPUs with AMX (Intel Xeon Sapphire Rapids and later: amx_int8 in /proc/cpuinfo),
# GGML_NATIVE's -march=native compiles in llama.cpp's AMX extra buffer type, and its
# ggml_backend_amx_mul_mat segfaults in llama_decode for Q4_0, Q4_1, Q8_0 and Q4_K weights
# (llama.cpp as vendored by llama-cpp-python 0.3.36; ggml-org/llama.cpp#20824, not fixed).
# -mno-amx-* leaves the AMX kernels out (ggml builds them only under __AMX_INT8__) and
# keeps every other native feature; ggml's GGML_AMX_* options only act with GGML_NATIVE=OFF.
set -u
grep -qw amx_int8 /proc/cpuinfo 2>/dev/null || exit 0
flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
# A compiler that does not know these flags does not know AMX either: nothing to turn off.
echo 'int main(void) { return 0; }' | ${CC:-cc} $flags -x c -fsyntax-only - 2>/dev/null || exit 0
echo 'int main() { return 0; }' | ${CXX:-c++} $flags -x c++ -fsyntax-only - 2>/dev/null || exit 0
printf '%s\n' "-DCMAKE_C_FLAGS='${CFLAGS:+$CFLAGS }$flags' -DCMAKE_CXX_FLAGS='${CXXFLAGS:+$CXXFLAGS }$flags'"
