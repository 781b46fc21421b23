// Last use of each local image, for the emergency tier (SPEC "The emergency tier"): the
// latest container create/start from it, or its pull, tag, load or import, and, for an
// image with no known use, when the daemon first saw it (never its build date).
// Pure: events, image lists and the time come in; no I/O, no clock, no logging.
#pragma once
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/types.hpp"
#include "util/time.hpp"

namespace cdp {

// One local image as GET /images/json lists it.
struct ImageRecord {
  std::string id;                    // "sha256:<64 hex>"
  std::vector<std::string> tags;     // RepoTags without "<none>:<none>" ("local/app:1")
  std::vector<std::string> digests;  // RepoDigests ("repo@sha256:...")
  std::uint64_t size = 0;            // Size (layers shared with other images included)
  std::optional<TimePoint> created;
};

// The fields of a Docker event that matter here (docker::Event carries them; the caller
// copies them so this room does not depend on the docker room).
struct ImageUseEvent {
  std::string type;      // "container", "image", ...
  std::string action;    // "create", "start", "pull", "tag", ...
  std::string actor_id;  // container id, or image id / reference (see image_use.cpp)
  Labels attributes;     // Actor.Attributes ("image" on container events, "name" on image events)
  TimePoint at{};        // timeNano as wall time
};

// A reference in Docker's familiar form: "docker.io/" and "library/" dropped, ":latest"
// added when neither tag nor digest is given ("busybox" -> "busybox:latest"). Image ids
// and other strings come back unchanged.
std::string familiar_reference(std::string_view ref);

// The image `ref` names in `images`: a full or prefixed image id ("sha256:..." or at least
// 12 hex digits), a repo:tag, a repo@digest, or repo:tag@digest (the digest wins, as in
// Docker). nullopt when none matches.
std::optional<std::string> resolve_image(std::string_view ref, const std::vector<ImageRecord>& images);

class ImageUse {
 public:
  // Applies one event against the current image list. Returns true when it recorded a use.
  // Uses: container create/start (Attributes.image, as the user named it), image pull
  // (Actor.ID is the reference pulled), image tag/load/import (Actor.ID is the image id).
  // An image delete forgets the id. Other events change nothing. A reference that names
  // no listed image records nothing: the next observe() sees the image as new, then.
  bool apply(const ImageUseEvent& event, const std::vector<ImageRecord>& images);

  // A complete image list read at `now`: an image never seen before counts as used now
  // (first seen), and ids no longer listed are forgotten.
  void observe(const std::vector<ImageRecord>& images, TimePoint now);

  // Records a use of `id` at `at` (the later of this and what was known wins).
  void note_use(const std::string& id, TimePoint at);

  std::optional<TimePoint> last_use(const std::string& id) const;
  const std::map<std::string, TimePoint>& all() const { return last_use_; }

  // The state file's "image_last_use" value: {"sha256:...": <µs since the Unix epoch>, ...}
  // (microseconds, like the state file's "last_prune").
  nlohmann::json to_json() const;
  // Reads that value back. Entries that are not "id": non-negative integer are skipped and
  // counted in `skipped`; anything but an object gives an empty map and skipped = 1.
  static ImageUse from_json(const nlohmann::json& j, std::size_t* skipped = nullptr);

 private:
  std::map<std::string, TimePoint> last_use_;  // image id -> last use (wall time)
};

// The key under which the state file keeps ImageUse::to_json().
inline constexpr const char* kImageLastUseKey = "image_last_use";

}  // namespace cdp
