// Starts GraphiQL on jsonserve's GET /graphql page. A file rather than an inline script, so that the
// page's Content-Security-Policy can keep script-src to 'self'. The page names the endpoint in
// data-endpoint on #graphiql (a path on the same server, --base included) and a first query in
// data-example; a ?query= (and ?variables=) in the page's URL fills the editor instead, as links
// to GraphiQL usually do. Nothing is loaded from anywhere else: no subscriptions URL is given.
(function () {
    'use strict';
    var root = document.getElementById('graphiql');
    var params = new URLSearchParams(window.location.search);
    var props = {
        fetcher: GraphiQL.createFetcher({ url: root.getAttribute('data-endpoint') }),
        defaultQuery: root.getAttribute('data-example'),
        defaultEditorToolsVisibility: true,
    };
    if (params.get('query')) props.query = params.get('query');
    if (params.get('variables')) props.variables = params.get('variables');
    root.textContent = '';
    ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
