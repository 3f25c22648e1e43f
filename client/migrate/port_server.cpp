// port-server: its SQLite database (read through libsqlite3, read-only)
// and the JSON list its GET /v1/allocations returns.
#include <sqlite3.h>

#include <fmt/format.h>

#include <memory>
#include <stdexcept>

#include "migrate/migrate.hpp"

namespace portd::migrate {
namespace {

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string column_text(sqlite3_stmt* st, int col) {
  const unsigned char* t = sqlite3_column_text(st, col);
  return t ? reinterpret_cast<const char*>(t) : "";
}

}  // namespace

Converted from_port_server_json(const nlohmann::json& doc, std::string_view file) {
  if (!doc.is_array()) {
    throw std::runtime_error(fmt::format(
        "'{}' is not port-server's GET /v1/allocations output: not a JSON array", file));
  }
  Converted c;
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const nlohmann::json& a = doc[i];
    if (!a.is_object()) continue;
    Row r;
    r.source = fmt::format("{} allocation #{}", file, i + 1);
    r.app = text(a, "app");
    r.instance = text(a, "instance");
    r.service = text(a, "service");
    auto p = a.find("port");
    r.port = p != a.end() && p->is_number_integer() ? p->get<std::int64_t>() : 0;
    r.created_at = parse_timestamp(text(a, "created_at"));
    c.rows.push_back(std::move(r));
  }
  return c;
}

Converted from_port_server_db(const std::string& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, decltype(&sqlite3_close)> db(raw, sqlite3_close);
  if (rc != SQLITE_OK) {
    throw std::runtime_error(fmt::format("cannot open port-server database '{}': {}", path,
                                         raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_stmt* st_raw = nullptr;
  rc = sqlite3_prepare_v2(
      db.get(), "SELECT id, app, instance, service, port, created_at FROM allocations ORDER BY id",
      -1, &st_raw, nullptr);
  std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> st(st_raw, sqlite3_finalize);
  if (rc != SQLITE_OK) {
    throw std::runtime_error(
        fmt::format("'{}' is not a port-server database: {}", path, sqlite3_errmsg(db.get())));
  }
  Converted c;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) {
    Row r;
    r.source = fmt::format("{} id {}", path, sqlite3_column_int64(st.get(), 0));
    r.app = column_text(st.get(), 1);
    r.instance = column_text(st.get(), 2);
    r.service = column_text(st.get(), 3);
    r.port = sqlite3_column_int64(st.get(), 4);
    r.created_at = parse_timestamp(column_text(st.get(), 5));
    c.rows.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) {
    throw std::runtime_error(
        fmt::format("failed to read '{}': {}", path, sqlite3_errmsg(db.get())));
  }
  return c;
}

}  // namespace portd::migrate
