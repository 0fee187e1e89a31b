// Starts Swagger UI on jsonserve's /docs page. A file rather than an inline script, so that the page's
// Content-Security-Policy can keep script-src to 'self'. The page names the OpenAPI document in
// data-openapi-url on #swagger-ui (a URL on the same server, --base included).
(function () {
    'use strict';
    var root = document.getElementById('swagger-ui');
    window.ui = SwaggerUIBundle({
        url: root.getAttribute('data-openapi-url'),
        dom_id: '#swagger-ui',
        presets: [SwaggerUIBundle.presets.apis],
        layout: 'BaseLayout',
        deepLinking: true,
        tryItOutEnabled: true,
        displayRequestDuration: true,
        // Under --auth: the token given to the Authorize dialog survives a reload (kept in this origin's
        // localStorage, as Swagger UI does; the Logout button in the dialog forgets it).
        persistAuthorization: true,
        queryConfigEnabled: false, // never load a document named in the page's query string
        validatorUrl: null, // never send the document to validator.swagger.io
    });
})();
