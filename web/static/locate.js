// 老人档案: "用本机定位" fills the location from this device (during the home visit); the
// location is then the home itself, so "approximate" is unticked. Nothing happens unless the
// officer presses the button.
(function () {
  var button = document.getElementById("p-locate");
  var lat = document.getElementById("p-lat");
  var lon = document.getElementById("p-lon");
  var approx = document.getElementById("p-approx");
  var status = document.getElementById("p-locate-status");
  if (!button || !lat || !lon || !status) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    if (!navigator.geolocation) {
      status.textContent = "本机不能定位，请手工填写。";
      return;
    }
    status.textContent = "正在获取位置……";
    navigator.geolocation.getCurrentPosition(function (p) {
      lat.value = p.coords.latitude.toFixed(6);
      lon.value = p.coords.longitude.toFixed(6);
      if (approx) approx.checked = false;
      status.textContent = "已填入本机位置，保存后生效。";
    }, function () {
      status.textContent = "没有取得位置，请打开定位权限，或手工填写。";
    }, { enableHighAccuracy: true, timeout: 15000 });
  });
})();
