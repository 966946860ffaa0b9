// placeholder until client/build.mjs runs
