# Writes IN's bytes as a C string: `const char NAME[] = {..., 0};` into OUT,
# so that a helper script ships inside the binary that runs it (-P script:
# cmake -DIN=... -DOUT=... -DNAME=... -P embed_text.cmake).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUT}.new" "/* generated from ${IN} by cmake/embed_text.cmake */\nconst char ${NAME}[] = {\n${bytes}0};\n")
file(COPY_FILE "${OUT}.new" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.new")
