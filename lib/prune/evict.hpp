// The emergency tier's one image-delete path (SPEC "The emergency tier"): the ONLY code in
// the project that asks Docker to remove a tagged image. DELETE /images/<repo:tag> for each
// tag with no query (force and the no-prune flag stay off); Docker's 409 ends the candidate. It refuses
// (sends nothing) unless emergency.enabled; in dry-run it sends nothing. Decides nothing:
// lib/policy/emergency.* chooses the candidate, the caller confirms the gates first.
#pragma once
#include "config/config.hpp"
#include "docker/client.hpp"
#include "policy/emergency.hpp"

namespace cdp {

// Removes `candidate`'s tags one by one, in order. Outcome: removed (every DELETE answered
// 200, or 404: the tag was already gone), conflict (a 409: the rest are not sent), failed
// (transport error or another status: the rest are not sent), dry_run, refused (disabled).
// A request once sent is never cancelled (no timeout), as for a prune.
awaitable<emergency::EvictOutcome> evict_image(docker::Client& client, const Config& config,
                                               const emergency::Verdict& candidate, bool dry_run);

// "/images/local%2Bx/app:1"-style path for a tag: Docker routes /images/{name:.*}, so '/'
// and ':' stay; anything outside a reference's alphabet is percent-encoded.
std::string image_delete_target(const std::string& tag);

}  // namespace cdp
