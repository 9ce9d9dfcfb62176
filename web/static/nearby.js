// 附近服务: "用我现在的位置查找" asks the browser where the phone is (only when pressed, and
// only if the person allows it) and shows the providers around that point.
(function () {
  var button = document.getElementById("use-here");
  var status = document.getElementById("here-status");
  if (!button || !status || !navigator.geolocation) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    status.textContent = "正在获取位置……";
    navigator.geolocation.getCurrentPosition(function (p) {
      location.href = "/me/nearby?lat=" + p.coords.latitude.toFixed(5) +
        "&lon=" + p.coords.longitude.toFixed(5);
    }, function () {
      status.textContent = "没有取得位置：请在手机设置里允许颐养使用位置，或按登记的住址查找。";
    }, { enableHighAccuracy: false, timeout: 15000, maximumAge: 60000 });
  });
})();
