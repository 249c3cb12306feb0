/* Hostile: imports a host function the runtime does not offer (env.clawfs_secret). */
__attribute__((import_module("env"), import_name("clawfs_secret"))) int clawfs_secret(void);

int main(void) { return clawfs_secret(); }
