// The redeem page's scanner: the device camera frames go through jsQR (vendored, no CDN);
// a decoded code fills the token field. Typing the code works the same without a camera.
(function () {
  var start = document.getElementById("scan-start");
  if (!start) return;
  var video = document.getElementById("scan-video");
  var canvas = document.getElementById("scan-canvas");
  var status = document.getElementById("scan-status");
  var field = document.getElementById("token");
  var stream = null;

  function stop() {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
  }

  function frame() {
    if (!stream) return;
    if (video.readyState === video.HAVE_ENOUGH_DATA) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      var ctx = canvas.getContext("2d");
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      var data = ctx.getImageData(0, 0, canvas.width, canvas.height);
      var code = window.jsQR && jsQR(data.data, data.width, data.height);
      if (code && code.data) {
        field.value = code.data;
        status.textContent = "已扫到付款码，请填写服务项目的数量。";
        stop();
        return;
      }
    }
    requestAnimationFrame(frame);
  }

  start.addEventListener("click", function () {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status.textContent = "这台设备不能用摄像头，请手工输入付款码。";
      return;
    }
    navigator.mediaDevices.getUserMedia({video: {facingMode: "environment"}})
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        video.play();
        status.textContent = "请把付款码对准摄像头。";
        requestAnimationFrame(frame);
      })
      .catch(function () { status.textContent = "无法打开摄像头，请手工输入付款码。"; });
  });
})();
