/* coursewright LTI deep linking: send the signed response back to the platform. */
(function () {
  "use strict";
  var form = document.getElementById("cw-return");
  if (form) form.submit();
})();
