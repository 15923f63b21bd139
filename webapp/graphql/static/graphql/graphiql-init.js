// GraphiQL on the hub, for a signed-in developer (served in development only). Queries go
// to the same origin with the session cookie and the CSRF token the hub asks of a session.
(function () {
  "use strict";
  var root = document.getElementById("graphiql");
  var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  var fetcher = GraphiQL.createFetcher({
    url: root.dataset.endpoint,
    headers: match ? { "X-CSRFToken": decodeURIComponent(match[1]) } : {},
  });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolsVisibility: true })
  );
})();
