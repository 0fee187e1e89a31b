// Starts GraphiQL on jsonserve's GET /graphql page. A file rather than an inline script, so that the
// page's Content-Security-Policy can keep script-src to 'self'. The page names the endpoint in
// data-endpoint on #graphiql (a path on the same server, --base included) and a first query in
// data-example; a ?query= (and ?variables=) in the page's URL fills the editor instead, as links
// to GraphiQL usually do. Nothing is loaded from anywhere else. Subscriptions run over the same
// endpoint's WebSocket (graphql-transport-ws) through a graphql-ws client, which connects on the
// first subscription only; a token in GraphiQL's Headers editor ({"Authorization": "Bearer ..."})
// goes in its connection_init payload, as the endpoint reads it there.
(function () {
    'use strict';
    var root = document.getElementById('graphiql');
    var params = new URLSearchParams(window.location.search);
    var endpoint = root.getAttribute('data-endpoint');
    var socketUrl = (window.location.protocol === 'https:' ? 'wss://' : 'ws://') + window.location.host + endpoint;
    var headers = {};
    var wsClient = graphqlWs.createClient({
        url: socketUrl,
        connectionParams: function () { return headers; },
    });
    var props = {
        fetcher: GraphiQL.createFetcher({ url: endpoint, wsClient: wsClient }),
        onEditHeaders: function (text) {
            try { headers = JSON.parse(text || '{}') || {}; } catch (error) { headers = {}; }
        },
        defaultQuery: root.getAttribute('data-example'),
        defaultEditorToolsVisibility: true,
    };
    if (params.get('query')) props.query = params.get('query');
    if (params.get('variables')) props.variables = params.get('variables');
    root.textContent = '';
    ReactDOM.createRoot(root).render(React.createElement(GraphiQL, props));
})();
