// The registration binary's admin command: OrganizerService API keys.
//
//   admit-registration keys create --scope admin|organizer [--event ID]...
//                                  [--read-only] [--name TEXT]
//   admit-registration keys list
//   admit-registration keys revoke ID
//   admit-registration keys bootstrap
//
// create prints the new key (once: only its hash is stored) and its id;
// list prints every key's id, scope, events, read-only flag, name, creation
// and revocation times (never a secret); revoke revokes a key (every replica
// refuses it within ADMIT_API_KEY_REFRESH_INTERVAL); bootstrap prints a fresh
// well-formed key for ADMIT_BOOTSTRAP_ADMIN_KEY without touching the
// database. The database is ADMIT_PG_URL (and the other ADMIT_PG_*
// settings); the registration migrations (ADMIT_REGISTRATION_SCHEMA_DIR) are
// applied first unless ADMIT_REGISTRATION_MIGRATE=false, like the server.
//
// Exit status: 0 done; 1 the database failed or the key is unknown; 2 bad
// usage or settings (the message says which).
#ifndef ADMIT_SERVICES_REGISTRATION_ADMIN_COMMAND_H_
#define ADMIT_SERVICES_REGISTRATION_ADMIN_COMMAND_H_

#include <ostream>

#include "common/config/config.h"

namespace admit::registration {

// Whether argv asks for the admin command (argv[1] is "keys"); main() then
// returns RunAdminCommand(argc, argv) instead of serving.
bool IsAdminCommand(int argc, char** argv);

// Runs the command in argv (argv[1] == "keys"), printing results to stdout
// and messages to stderr, reading settings from the process environment.
// Blocks; call it from main() before starting anything else.
int RunAdminCommand(int argc, char** argv);

// The same with explicit streams and environment (tests).
int RunAdminCommand(int argc, char** argv, std::ostream& out, std::ostream& err,
                    const config::Lookup& env);

}  // namespace admit::registration

#endif  // ADMIT_SERVICES_REGISTRATION_ADMIN_COMMAND_H_
